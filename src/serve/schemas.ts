/**
 * JSON schemas of the HTTP API (request validation, response serialisation and the OpenAPI document).
 * Field names follow Gorse's (PascalCase: ItemId, UserId, FeedbackType, IsHidden, Categories, Labels,
 * Timestamp, Comment) so its users feel at home; genrec's additions use the same style.
 */
const id = { type: 'string', minLength: 1, maxLength: 256 } as const;
const token = { type: 'string', minLength: 1, maxLength: 256 } as const;
const timestamp = {
  anyOf: [{ type: 'string', minLength: 1, maxLength: 64 }, { type: 'number' }],
  description: 'RFC 3339 / ISO 8601 time, or epoch seconds; default: when the server receives it',
} as const;

export const errorSchema = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' } },
  required: ['code', 'message'],
} as const;

export const itemSchema = {
  type: 'object',
  properties: {
    ItemId: id,
    IsHidden: { type: 'boolean', description: 'hidden items are kept but never recommended' },
    Categories: { type: 'array', items: token, maxItems: 256 },
    Labels: { type: 'array', items: token, maxItems: 1024, description: 'attribute tokens, e.g. brand=acme' },
    Title: { type: 'string', maxLength: 4096 },
    Comment: { type: 'string', maxLength: 65536, description: 'free text (stored as the item text)' },
    Timestamp: timestamp,
  },
  required: ['ItemId'],
  additionalProperties: false,
} as const;

export const itemPatchSchema = { ...itemSchema, required: [] } as const;

export const userSchema = {
  type: 'object',
  properties: { UserId: id, Labels: { type: 'array', items: token, maxItems: 1024 }, Comment: { type: 'string', maxLength: 65536 } },
  required: ['UserId'],
  additionalProperties: false,
} as const;

export const userPatchSchema = { ...userSchema, required: [] } as const;

export const feedbackSchema = {
  type: 'object',
  properties: {
    FeedbackType: { type: 'string', minLength: 1, maxLength: 64, description: 'event type: view, click, like, purchase, dislike, ... (new names get weight 1)' },
    UserId: id,
    ItemId: id,
    Timestamp: timestamp,
    Value: { type: 'number', description: 'optional value: rating, watch seconds, price' },
    EventId: { ...id, description: 'client event id: a repeated id is acknowledged without being added again' },
    RecommendationId: { ...id, description: 'the recommendation this event responds to (click-through per model version)' },
    Comment: { type: 'string', maxLength: 4096 },
  },
  required: ['FeedbackType', 'UserId', 'ItemId'],
  additionalProperties: false,
} as const;

export const affectedSchema = {
  type: 'object',
  properties: { RowAffected: { type: 'integer' }, Duplicates: { type: 'integer' } },
} as const;

export const recQuery = {
  type: 'object',
  properties: {
    n: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    offset: { type: 'integer', minimum: 0, maximum: 1000, default: 0 },
    category: { ...token, description: 'only items in this category (applied inside the search)' },
    excludeSeen: { type: 'boolean', default: true, description: 'leave out items the user already has events on' },
    maxPerPrefix: { type: 'integer', minimum: 1, maximum: 100, description: 'diversity: at most this many items per semantic-ID prefix' },
    prefixLevels: { type: 'integer', minimum: 1, maximum: 8, default: 1, description: 'length of the prefix maxPerPrefix counts by' },
  },
  additionalProperties: false,
} as const;

export const recResponse = {
  type: 'object',
  properties: {
    RecommendationId: { type: 'string', description: 'cite it as RecommendationId in later feedback' },
    ModelVersion: { type: 'integer', description: 'bundle version that generated the list; 0 for the trending fallback' },
    Source: { type: 'string', enum: ['generator', 'trending'] },
    Reason: { type: 'string', description: 'why the fallback was used' },
    Items: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          ItemId: { type: 'string' },
          Score: { type: 'number', description: 'generator: log-probability of the semantic ID; trending: decayed popularity' },
          Title: { type: 'string' },
          Why: {
            type: ['object', 'null'],
            properties: {
              Items: { type: 'array', items: { type: 'string' }, description: 'history items whose semantic ID shares the longest prefix with this one' },
              SharedPrefix: { type: 'array', items: { type: 'integer' } },
              Followed: {
                type: 'array',
                description: 'memorised transitions that lifted this item: recent history items it followed (or, for a model that reads pairs both ways, preceded) in training or live events, and how often (with a table span above 1, an item d events on counts 0.8^(d-1))',
                items: { type: 'object', properties: { ItemId: { type: 'string' }, Times: { type: 'number' } } },
              },
            },
          },
        },
      },
    },
  },
} as const;

export const sessionBody = {
  type: 'array',
  maxItems: 1000,
  description: 'the session: item ids (oldest first), or Gorse-style feedback objects with an ItemId',
  items: { anyOf: [id, { type: 'object', properties: { ItemId: id, FeedbackType: { type: 'string' }, Timestamp: timestamp }, required: ['ItemId'] }] },
} as const;

/**
 * A realistic synthetic interaction log with a known generative story (docs/synthetic.md): topics and
 * sub-topics with their own vocabulary, items in series with power-law popularity, users with a few
 * drifting interests, sessions, watch durations, likes, shares, skips and dislikes. Seeded: the same
 * options give the same data. The sequential signal is strong on purpose (series episodes, related items,
 * staying in a sub-topic), so sequence models beat popularity by a wide margin.
 */
import { Rng, mix32 } from '../engine/random.js';
import { EventColumnsBuilder } from './columns.js';
import type { ImportData, ItemColumns, UserColumns } from './schema.js';

export interface SyntheticOptions {
  seed?: number;
  users?: number;
  items?: number;
  /** Top-level topics (the built-in lexicon has 14; more get generated names). */
  topics?: number;
  subtopicsPerTopic?: number;
  /** Mean events per user (log-normal activity, at least `minEvents`). */
  meanEvents?: number;
  minEvents?: number;
  /** Length of the observation window in days, ending at `end`. */
  days?: number;
  /** End of the window (ISO or epoch seconds); default 2024-06-30T00:00:00Z. */
  end?: string | number;
  /** Zipf exponent of item popularity; default 1. */
  popularityExponent?: number;
  /** Fraction of items released during the window; default 0.15. */
  newItemFraction?: number;
  /** Probability that the next item is the next episode of the last one (when it has one); default 0.35. */
  seriesProb?: number;
  /** Probability that the next item is one of the last item's related items; default 0.2. */
  relatedProb?: number;
  /** Probability of staying in the last item's sub-topic; default 0.2. */
  stayProb?: number;
  /** Probability of a globally popular item from any topic (exploration, often skipped); default 0.1. */
  exploreProb?: number;
  /** Probability per session that one interest is replaced by another (drift); default 0.2. */
  driftProb?: number;
}

const LEXICON: Array<[string, string[], string[]]> = [
  ['cooking', ['baking', 'grilling', 'vegan', 'pasta', 'street food', 'desserts'], ['recipe', 'kitchen', 'flavor', 'chef', 'dinner', 'ingredients', 'homemade', 'tasty', 'oven', 'spices']],
  ['fitness', ['yoga', 'running', 'strength', 'cycling', 'hiit', 'stretching'], ['workout', 'training', 'body', 'routine', 'health', 'energy', 'coach', 'sweat', 'reps', 'mobility']],
  ['music', ['jazz', 'hip hop', 'classical', 'rock', 'electronic', 'folk'], ['song', 'album', 'live', 'band', 'concert', 'melody', 'session', 'guitar', 'beat', 'vocals']],
  ['gaming', ['strategy', 'speedrun', 'rpg', 'shooter', 'indie', 'retro'], ['game', 'level', 'play', 'boss', 'walkthrough', 'stream', 'controller', 'quest', 'patch', 'multiplayer']],
  ['travel', ['japan', 'road trips', 'hiking', 'city guides', 'beaches', 'backpacking'], ['trip', 'journey', 'guide', 'hotel', 'flight', 'adventure', 'map', 'local', 'budget', 'views']],
  ['science', ['astronomy', 'physics', 'biology', 'chemistry', 'robotics', 'climate'], ['experiment', 'theory', 'lab', 'research', 'discovery', 'data', 'universe', 'energy', 'cells', 'model']],
  ['comedy', ['standup', 'sketches', 'pranks', 'parody', 'satire', 'improv'], ['funny', 'joke', 'laugh', 'stage', 'crowd', 'bit', 'roast', 'hilarious', 'scene', 'punchline']],
  ['tech', ['smartphones', 'programming', 'gadgets', 'pc building', 'ai', 'reviews'], ['device', 'code', 'software', 'hardware', 'setup', 'benchmark', 'unboxing', 'chip', 'battery', 'screen']],
  ['fashion', ['streetwear', 'vintage', 'makeup', 'sneakers', 'skincare', 'hairstyles'], ['style', 'outfit', 'look', 'trend', 'haul', 'brand', 'season', 'color', 'fit', 'closet']],
  ['sports', ['football', 'basketball', 'tennis', 'formula one', 'boxing', 'skiing'], ['match', 'team', 'score', 'highlights', 'season', 'player', 'league', 'race', 'final', 'coach']],
  ['diy', ['woodworking', 'gardening', 'home repair', 'crafts', 'sewing', '3d printing'], ['project', 'tools', 'build', 'workshop', 'materials', 'tutorial', 'fix', 'design', 'garden', 'handmade']],
  ['finance', ['investing', 'crypto', 'budgeting', 'real estate', 'startups', 'economics'], ['money', 'market', 'stocks', 'savings', 'portfolio', 'risk', 'income', 'growth', 'tax', 'wealth']],
  ['pets', ['dogs', 'cats', 'aquariums', 'birds', 'horses', 'reptiles'], ['pet', 'cute', 'care', 'training', 'food', 'vet', 'puppy', 'kitten', 'rescue', 'tank']],
  ['history', ['ancient rome', 'world wars', 'medieval', 'egypt', 'cold war', 'archaeology'], ['empire', 'battle', 'era', 'documentary', 'ruins', 'king', 'story', 'century', 'war', 'artifacts']],
];
const ADJ = ['ultimate', 'quick', 'easy', 'epic', 'honest', 'complete', 'secret', 'daily', 'beginner', 'advanced', 'weekend', 'perfect', 'classic', 'modern', 'tiny', 'big'];
const NOUN = ['guide', 'challenge', 'tips', 'story', 'review', 'vlog', 'tutorial', 'session', 'breakdown', 'tour', 'diary', 'test', 'basics', 'secrets', 'mistakes', 'moments'];
const FILLER = ['today', 'really', 'best', 'new', 'how', 'why', 'first', 'time', 'ever', 'you', 'need', 'watch', 'part', 'try', 'week', 'every'];
const FORMATS: Array<[string, number]> = [['short', 45], ['long', 720], ['live', 3000]];
const SYL = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'ze', 'po', 'da', 'fe'];

/** A generated pseudo-word for topics beyond the lexicon. */
function word(rng: Rng, syllables = 3): string {
  let w = '';
  for (let k = 0; k < syllables; k++) w += SYL[rng.int(SYL.length)];
  return w;
}

function pick<T>(rng: Rng, a: readonly T[]): T { return a[rng.int(a.length)]!; }

function gamma(rng: Rng, shape: number): number {
  // Marsaglia–Tsang (shape ≥ 1), boosted for shape < 1.
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(rng.next() || 1e-12, 1 / shape);
  const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal(), v0 = 1 + c * x;
    if (v0 <= 0) continue;
    const v = v0 * v0 * v0, u = rng.next();
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Cumulative weights for sampling by binary search. */
function cumulative(w: ArrayLike<number>): Float64Array {
  const c = new Float64Array(w.length);
  let s = 0;
  for (let k = 0; k < w.length; k++) { s += w[k]!; c[k] = s; }
  return c;
}

function sampleCum(rng: Rng, cum: Float64Array): number {
  const x = rng.next() * cum[cum.length - 1]!;
  let a = 0, b = cum.length - 1;
  while (a < b) { const m = (a + b) >>> 1; if (cum[m]! > x) b = m; else a = m + 1; }
  return a;
}

interface World {
  topicNames: string[];
  subTopic: Int32Array; // sub-topic → topic
  subNames: string[];
  itemSub: Int32Array;
  nextEpisode: Int32Array; // -1 if last
  related: Int32Array; // 3 per item
  created: Float64Array;
  duration: Float32Array;
  subItems: Int32Array[]; subCum: Float64Array[];
  globalCum: Float64Array;
  allItems: Int32Array;
  recent: Int32Array[]; // per sub-topic: items released in the window, by release time
}

export function generateSynthetic(opts: SyntheticOptions = {}): ImportData {
  const o = {
    seed: 42, users: 2000, items: 3000, topics: 12, subtopicsPerTopic: 6, meanEvents: 60, minEvents: 5, days: 180,
    end: '2024-06-30T00:00:00Z' as string | number, popularityExponent: 1, newItemFraction: 0.15,
    seriesProb: 0.35, relatedProb: 0.2, stayProb: 0.2, exploreProb: 0.1, driftProb: 0.2, ...opts,
  };
  const end = typeof o.end === 'number' ? o.end : Date.parse(o.end) / 1000;
  const start = end - o.days * 86400;
  const rng = new Rng(mix32(o.seed, 0x5e7));
  const { world, items } = buildItems(o, rng, start, end);
  const usersCols: UserColumns = { source: 'synthetic', ids: [], attributes: [] };
  const b = new EventColumnsBuilder('synthetic', { timestamps: true, values: true, capacity: Math.ceil(o.users * o.meanEvents * 1.1) });
  const T = (name: string) => b.typeNames.add(name);
  const [VIEW, LIKE, SHARE, SKIP, SHORT, DISLIKE] = [T('view'), T('like'), T('share'), T('skip'), T('short_view'), T('dislike')];
  for (let k = 0; k < o.items; k++) b.items.add(items.ids[k]!);
  const nSub = world.subNames.length;
  const weights = new Float64Array(nSub);
  for (let u = 0; u < o.users; u++) {
    const ur = new Rng(mix32(o.seed, u + 1));
    const uid = `u${u}`;
    const ku = b.users.add(uid);
    const activity = Math.exp(Math.log(o.meanEvents) - 0.32 + 0.8 * ur.normal());
    const nEvents = Math.max(o.minEvents, Math.min(Math.round(activity), o.meanEvents * 12));
    usersCols.ids.push(uid);
    usersCols.attributes!.push([`segment=${nEvents < o.meanEvents * 0.5 ? 'casual' : nEvents < o.meanEvents * 2 ? 'regular' : 'heavy'}`,
      `region=${pick(ur, ['na', 'eu', 'apac', 'latam'])}`]);
    // Interests: 2-4 sub-topics, clustered in 1-2 topics, Dirichlet(1) weights.
    weights.fill(0);
    const homeTopics = [ur.int(o.topics), ur.int(o.topics)];
    const nInterests = 2 + ur.int(3);
    for (let k = 0; k < nInterests; k++) {
      const t = homeTopics[k === 0 ? 0 : ur.next() < 0.7 ? 0 : 1]!;
      weights[t * o.subtopicsPerTopic + ur.int(o.subtopicsPerTopic)]! += gamma(ur, 1);
    }
    let wCum = cumulative(weights);
    const consumed = new Set<number>();
    const sessions = Math.max(1, Math.round(nEvents / 6));
    const userStart = start + ur.next() * 0.3 * (end - start);
    const starts = Float64Array.from({ length: sessions }, () => userStart + ur.next() * (end - 86400 - userStart)).sort();
    let produced = 0, lastT = -Infinity;
    for (let s = 0; s < sessions && produced < nEvents; s++) {
      if (s > 0 && ur.next() < o.driftProb) {
        wCum = drift(ur, weights, o.subtopicsPerTopic, nSub);
      }
      let t = Math.max(starts[s]!, lastT + 600);
      const len = s === sessions - 1 ? nEvents - produced : Math.min(nEvents - produced, 1 + Math.floor(-Math.log(1 - ur.next()) * 5));
      let prev = -1, prevPositive = false;
      for (let e = 0; e < len; e++) {
        const item = nextItem(ur, world, o, prev, prevPositive, wCum, consumed, t);
        consumed.add(item);
        const sub = world.itemSub[item]!;
        let a = weights[sub]! / (wCum[nSub - 1]! || 1);
        const topic = world.subTopic[sub]!;
        let topicW = 0;
        for (let k = topic * o.subtopicsPerTopic; k < (topic + 1) * o.subtopicsPerTopic; k++) topicW += weights[k]!;
        a = Math.min(1, a + 0.3 * topicW / (wCum[nSub - 1]! || 1));
        const f = Math.min(1, Math.max(0.01, 0.05 + 0.85 * Math.min(1, 2 * a) + 0.25 * ur.normal()));
        let type = f < 0.1 ? SKIP : f < 0.3 ? SHORT : VIEW;
        if (type === VIEW && f > 0.7 && ur.next() < 0.05 + 0.25 * a) type = ur.next() < 0.12 ? SHARE : LIKE;
        else if (type !== VIEW && a < 0.05 && ur.next() < 0.3) type = DISLIKE;
        const watch = Math.round(f * world.duration[item]! * 10) / 10;
        b.addEncoded(ku, item, type, Math.round(t), watch);
        produced++;
        prev = item; prevPositive = type === VIEW || type === LIKE || type === SHARE;
        lastT = t;
        t += watch + 5 - Math.log(1 - ur.next()) * 20;
      }
    }
  }
  return { label: 'synthetic', events: b.build(), items, users: usersCols };
}

/** Replaces one interest (weighted towards weak ones) by a sub-topic near the others; jitters weights. */
function drift(rng: Rng, w: Float64Array, perTopic: number, nSub: number): Float64Array {
  const active: number[] = [];
  for (let k = 0; k < nSub; k++) if (w[k]! > 0) active.push(k);
  const drop = active[rng.int(active.length)]!;
  const mass = w[drop]!;
  w[drop] = 0;
  const anchor = active[rng.int(active.length)]!;
  const target = rng.next() < 0.6
    ? Math.floor(anchor / perTopic) * perTopic + rng.int(perTopic)
    : rng.int(nSub);
  w[target]! += mass;
  for (let k = 0; k < nSub; k++) if (w[k]! > 0) w[k]! *= Math.exp(0.3 * rng.normal());
  return cumulative(w);
}

function nextItem(rng: Rng, world: World, o: Required<Pick<SyntheticOptions, 'seriesProb' | 'relatedProb' | 'stayProb' | 'exploreProb'>>,
  prev: number, prevPositive: boolean, wCum: Float64Array, consumed: Set<number>, t: number): number {
  const ok = (i: number) => i >= 0 && world.created[i]! <= t && !consumed.has(i);
  if (prev >= 0 && prevPositive) {
    let r = rng.next();
    if ((r -= o.seriesProb) < 0) {
      const n = world.nextEpisode[prev]!;
      if (ok(n)) return n;
    } else if ((r -= o.relatedProb) < 0) {
      const n = world.related[prev * 3 + rng.int(3)]!;
      if (ok(n)) return n;
    } else if ((r -= o.stayProb) < 0) {
      return fromSub(rng, world, world.itemSub[prev]!, consumed, t);
    }
  }
  if (rng.next() < o.exploreProb) {
    for (let tries = 0; tries < 8; tries++) { const i = sampleCum(rng, world.globalCum); if (ok(i)) return i; }
  }
  return fromSub(rng, world, sampleCum(rng, wCum), consumed, t);
}

/** A popular, released item of a sub-topic, usually one the user has not seen (sometimes a fresh release). */
function fromSub(rng: Rng, world: World, sub: number, consumed: Set<number>, t: number): number {
  const recent = world.recent[sub]!;
  if (recent.length && rng.next() < 0.1) {
    // Fresh releases of the last two weeks get extra exposure.
    let hi = recent.length;
    while (hi > 0 && world.created[recent[hi - 1]!]! > t) hi--;
    let lo = hi;
    while (lo > 0 && world.created[recent[lo - 1]!]! > t - 14 * 86400) lo--;
    if (hi > lo) { const i = recent[lo + rng.int(hi - lo)]!; if (!consumed.has(i)) return i; }
  }
  let items = world.subItems[sub]!, cum = world.subCum[sub]!;
  if (items.length === 0) { items = world.allItems; cum = world.globalCum; } // an empty sub-topic (tiny catalogues)
  let i = items[sampleCum(rng, cum)]!;
  const rewatch = rng.next() < 0.05; // now and then a user watches something again
  const bad = (x: number) => world.created[x]! > t || (!rewatch && consumed.has(x));
  for (let tries = 0; tries < 10 && bad(i); tries++) i = items[sampleCum(rng, cum)]!;
  if (bad(i)) {
    // The popular ones are used up: the first unseen released item from a random offset.
    const off = rng.int(items.length);
    for (let j = 0; j < items.length; j++) { const x = items[(off + j) % items.length]!; if (!bad(x)) return x; }
  }
  return i;
}

function buildItems(o: Required<Omit<SyntheticOptions, 'end'>> & { end: string | number }, rng: Rng, start: number, end: number): { world: World; items: ItemColumns } {
  const topicNames: string[] = [], subNames: string[] = [], topicWords: string[][] = [], subWords: string[][] = [];
  for (let t = 0; t < o.topics; t++) {
    const lex = LEXICON[t];
    const name = lex ? lex[0] : word(rng);
    topicNames.push(name);
    topicWords.push(lex ? lex[2] : Array.from({ length: 10 }, () => word(rng, 2)));
    for (let s = 0; s < o.subtopicsPerTopic; s++) {
      const sname = lex?.[1][s] ?? `${word(rng, 2)} ${word(rng, 2)}`;
      subNames.push(sname);
      subWords.push([...sname.split(' '), word(rng, 2), word(rng, 2), word(rng, 3)]);
    }
  }
  const nSub = subNames.length;
  const subTopic = Int32Array.from({ length: nSub }, (_, s) => Math.floor(s / o.subtopicsPerTopic));
  // Sub-topic sizes vary (Gamma(2) shares).
  const subCumSize = cumulative(Float64Array.from({ length: nSub }, () => gamma(rng, 2)));
  const n = o.items;
  const itemSub = new Int32Array(n), nextEpisode = new Int32Array(n).fill(-1), related = new Int32Array(n * 3);
  const created = new Float64Array(n), duration = new Float32Array(n), pop = new Float64Array(n);
  const ids: string[] = [], title: string[] = [], text: string[] = [], categories: string[][] = [], attributes: string[][] = [];
  // Popularity: Zipf over a random permutation of ranks.
  const rank = Int32Array.from({ length: n }, (_, k) => k + 1);
  rng.shuffle(rank);
  let k = 0, series = 0;
  while (k < n) {
    const sub = sampleCum(rng, subCumSize), topic = subTopic[sub]!;
    const len = Math.min(n - k, 1 + Math.floor(-Math.log(1 - rng.next()) * 2.5));
    const [fmt, meanDur] = pick(rng, FORMATS);
    const stem = `${pick(rng, ADJ)} ${pick(rng, subWords[sub]!.slice(0, -3))} ${pick(rng, NOUN)}`;
    const creator = `creator=c${series % Math.max(1, Math.floor(n / 8))}`;
    const isNew = rng.next() < o.newItemFraction;
    let release = isNew ? start + rng.next() * (end - start) * 0.9 : start - rng.next() * 365 * 86400;
    for (let e = 0; e < len; e++, k++) {
      itemSub[k] = sub;
      if (e > 0) nextEpisode[k - 1] = k;
      created[k] = Math.round(release);
      release += (1 + rng.int(10)) * 86400;
      duration[k] = Math.round(meanDur * Math.exp(0.5 * rng.normal()));
      pop[k] = Math.pow(rank[k]!, -o.popularityExponent) * (len > 1 ? Math.pow(0.8, e) * 2 : 1);
      ids.push(`i${k}`);
      const cap = stem.charAt(0).toUpperCase() + stem.slice(1);
      title.push(len > 1 ? `${cap}, part ${e + 1}` : cap);
      const words: string[] = [];
      const m = 8 + rng.int(7);
      for (let j = 0; j < m; j++) {
        const r = rng.next();
        words.push(r < 0.5 ? pick(rng, subWords[sub]!) : r < 0.85 ? pick(rng, topicWords[topic]!) : pick(rng, FILLER));
      }
      text.push(`${pick(rng, NOUN)} about ${subNames[sub]}: ${words.join(' ')}`);
      categories.push([topicNames[topic]!, `${topicNames[topic]}/${subNames[sub]}`]);
      attributes.push([`format=${fmt}`, creator]);
    }
    series++;
  }
  const subItemsList: number[][] = Array.from({ length: nSub }, () => []);
  for (let i = 0; i < n; i++) subItemsList[itemSub[i]!]!.push(i);
  const subItems = subItemsList.map((l) => Int32Array.from(l));
  const subCum = subItems.map((l) => cumulative(Float64Array.from(l, (i) => pop[i]!)));
  for (let i = 0; i < n; i++) {
    const s = itemSub[i]!;
    for (let j = 0; j < 3; j++) related[i * 3 + j] = subItems[s]!.length > 1 ? subItems[s]![sampleCum(rng, subCum[s]!)]! : -1;
  }
  const recent = subItems.map((l) => Int32Array.from(Array.from(l).filter((i) => created[i]! >= start).sort((a, b) => created[a]! - created[b]!)));
  const world: World = { topicNames, subTopic, subNames, itemSub, nextEpisode, related, created, duration, subItems, subCum, globalCum: cumulative(pop), allItems: Int32Array.from({ length: n }, (_, i) => i), recent };
  return { world, items: { source: 'synthetic', ids, title, text, categories, attributes, created, duration } };
}

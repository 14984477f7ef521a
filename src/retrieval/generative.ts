/**
 * A trained generator ready to recommend: the bundle's exported graphs in ORT sessions, the item →
 * code table and the trie. `recommend` encodes each user's history once, then runs the trie-constrained
 * beam search; items inserted after training get codes from the tokenizer's incremental path and are
 * added with `addItems` (they join the trie, and their history embedding comes from their codes).
 * A bundle may hold an ensemble: several generators trained on the same codes with other seeds, which
 * share the trie and the search and average their logits at each step. A bundle may also hold memorised
 * transitions (models/transitions.ts), which the search mixes into the model's distribution.
 */
import { GenrecError, createSession, exportOnnx, ort, toOrt, type RuntimeOptions } from '../engine/index.js';
import { FIRST_LEVEL_GROUPS, buildDecodeGraph, buildEncodeGraph, childCountGroups, codeOffsets, gapBucket, itemTokenTable, itemTripleRows, pairRowTable, prefixChildren, firstLevelPrefixes, prefixPairs, tripleChildren, type Generator, type GeneratorConfig } from '../models/generator.js';
import { SPAN_GAIN, type MemoryOptions, type NodeMass } from '../models/transitions.js';
import { readBundle, requireSameConfig, type BundleManifest, type BundleMemory, type MemberGraphs } from '../train/bundle.js';
import { beamSearch, type BeamPrior, type BeamResult, type DecodeFn, type DecodeOutput } from './beam.js';
import { PrefixTrie } from '../tokenizer/index.js';

/** What a pair softmax's first-level decode graph returns besides its logits: per-user score tables for the second level. */
const FIRST_LEVEL_SCORES = ['user_code_scores', 'user_pair_scores'] as const;

/** Histories of U users as the model reads them: [U, T] left-padded, oldest first. */
export interface HistoryBatch {
  users: number;
  /** Dense item ids + 1 (0 = padding). */
  items: Int32Array;
  /** Event type + 1 (0 = padding); needed when the model uses event types. */
  types?: Int32Array;
  /** Seconds since the previous event (0 for the first / unknown); bucketed here. */
  gapSeconds?: Float32Array;
}

/** The encode graph's outputs for a batch of users. */
export type UserContext = Record<string, ort.Tensor>;

/** One generator's ORT sessions: the encode graph and a decode graph per code level. */
interface MemberSessions { encode: ort.InferenceSession; decode: ort.InferenceSession[] }

/** A history batch's context and first-level logits, kept for repeated searches (`reuseFirstLevels`). */
interface FirstLevelEntry { h: HistoryBatch; trie: PrefixTrie; ctx: UserContext[]; first: Promise<DecodeOutput> | null }

/** FNV-1a over a batch's histories (items, then event types and gaps when given): the kept entries' key. */
function hashHistories(h: HistoryBatch): number {
  let x = Math.imul(2166136261 ^ h.users, 16777619);
  const mix = (a: ArrayLike<number>) => { for (let i = 0; i < a.length; i++) x = Math.imul(x ^ (a[i]! | 0), 16777619); };
  mix(h.items);
  if (h.types) mix(h.types);
  if (h.gapSeconds) mix(new Int32Array(h.gapSeconds.buffer, h.gapSeconds.byteOffset, h.gapSeconds.length));
  return x >>> 0;
}

function sameArray(a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function sameHistories(a: HistoryBatch, b: HistoryBatch): boolean {
  return a.users === b.users && sameArray(a.items, b.items) && sameArray(a.types, b.types) && sameArray(a.gapSeconds, b.gapSeconds);
}

/** Opens one member's graphs (from a bundle or exported in memory) as ORT sessions. */
async function openMember(g: MemberGraphs, runtime: RuntimeOptions): Promise<MemberSessions> {
  return { encode: await createSession(g.encode, runtime), decode: await Promise.all(g.decode.map((bytes) => createSession(bytes, runtime))) };
}

export interface RecommendOptions {
  k: number;
  beam: number;
  /** Dense item ids to exclude for user u (seen, deleted, filtered), or null. */
  exclude?: (u: number) => ArrayLike<number> | null;
  /** Mix in the memorised transitions when the model has them (default true). */
  memory?: boolean;
}

export class GenerativeModel {
  private trie: PrefixTrie;
  private tokens: Int32Array;
  private numItems: number;
  private codes: Int32Array;
  private childCache: { trie: PrefixTrie; feeds: Record<string, ort.Tensor> } | null = null;
  private prefixCache: { trie: PrefixTrie; feeds: Record<string, ort.Tensor> } | null = null;
  private childGroupCache: { trie: PrefixTrie; value: { width: number; groupOf: Int32Array; widths: number[]; tables: Record<string, ort.Tensor>[] } } | null = null;
  private tripleCache: { trie: PrefixTrie; feeds: Record<string, ort.Tensor> } | null = null;
  private tripleRowCache: { trie: PrefixTrie; feed: ort.Tensor } | null = null;
  /** `tripleVectors` models: the training catalogue's trie (its depth-3 nodes are the triple table's rows). */
  private readonly trainedTrie: PrefixTrie | null;
  /** Pair-softmax models: the table row of each (c₀, c₁) prefix (`pairRowTable`), fixed at training. */
  private readonly pairRows: Int32Array | null;
  private memory: BundleMemory | null = null;
  /** While `reuseFirstLevels` is on: each history batch's context and first-level logits, by a hash of the batch. */
  private firstLevels: Map<number, FirstLevelEntry[]> | null = null;
  readonly offsets: Int32Array;

  private constructor(
    readonly manifest: BundleManifest,
    readonly itemIds: string[],
    codes: Int32Array,
    private readonly sessions: MemberSessions[],
  ) {
    const c = manifest.model.config;
    this.codes = codes;
    this.numItems = itemIds.length;
    this.offsets = codeOffsets(c.codeSizes);
    this.tokens = itemTokenTable(codes, this.numItems, c.codeSizes);
    this.trie = PrefixTrie.build(codes, this.numItems, c.codeSizes.length, c.codeSizes);
    this.pairRows = c.pairSoftmax && c.codeSizes.length > 1 ? GenerativeModel.pairRowsOf(c, codes) : null;
    this.trainedTrie = c.tripleVectors && c.codeSizes.length > 2 ? GenerativeModel.trainedTrieOf(c, codes) : null;
  }

  /** A `tripleVectors` model's table rows are the training catalogue's depth-3 nodes. */
  private static trainedTrieOf(c: GeneratorConfig, codes: Int32Array): PrefixTrie {
    const L = c.codeSizes.length;
    const trie = PrefixTrie.build(codes.subarray(0, c.numItems * L), c.numItems, L, c.codeSizes);
    if (trie.nodeCount[3] !== c.tripleRows) {
      throw new GenrecError('GENREC_E_BUNDLE', `the model has ${c.tripleRows} third-level rows but its training items' codes have ${trie.nodeCount[3]} (c₀, c₁, c₂) prefixes`, 'the codes do not belong to this model: retrain, or load the codes written with it');
    }
    return trie;
  }

  /**
   * A pair-softmax model's table rows belong to the training catalogue's prefixes (the first
   * `numItems` items' codes, in trie order); items added later never move them.
   */
  private static pairRowsOf(c: GeneratorConfig, codes: Int32Array): Int32Array {
    const L = c.codeSizes.length;
    const trained = prefixPairs(PrefixTrie.build(codes.subarray(0, c.numItems * L), c.numItems, L, c.codeSizes));
    if (trained.length / 2 !== c.pairRows) {
      throw new GenrecError('GENREC_E_BUNDLE', `the model has ${c.pairRows} prefix rows but its training items' codes have ${trained.length / 2} prefixes`, 'the codes do not belong to this model: retrain, or load the codes written with it');
    }
    return pairRowTable(trained, c.codeSizes[0]!, c.codeSizes[1]!);
  }

  static async load(dir: string, runtime: RuntimeOptions = {}): Promise<GenerativeModel> {
    const b = readBundle(dir);
    const sessions = await Promise.all([b, ...b.members].map((g) => openMember(g, runtime)));
    const gm = new GenerativeModel(b.manifest, b.itemIds, b.codes, sessions);
    gm.setMemory(b.memory);
    return gm;
  }

  /**
   * From a model in memory (e.g. per-epoch validation), without writing a bundle. Several models (same
   * config, trained on the same codes with other seeds) decode as one ensemble.
   */
  static async fromModule(model: Generator | Generator[], codes: Int32Array, itemIds: string[], runtime: RuntimeOptions = {}): Promise<GenerativeModel> {
    const models = Array.isArray(model) ? model : [model];
    requireSameConfig(models);
    const c = models[0]!.c;
    const sessions = await Promise.all(models.map((m) => openMember({
      encode: exportOnnx({ module: m, build: (g) => buildEncodeGraph(m, g) }),
      decode: c.codeSizes.map((_, l) => exportOnnx({ module: m, build: (g) => buildDecodeGraph(m, g, l) })),
    }, runtime)));
    const manifest = {
      format: 'genrec-bundle', formatVersion: 1, version: 0, createdAt: new Date().toISOString(),
      model: { kind: 'generator', config: c, parameters: models.reduce((s, m) => s + m.numParameters(), 0) },
      tokenizer: { version: 0, codeSizes: c.codeSizes, items: itemIds.length }, data: { label: '', users: 0, items: itemIds.length, events: 0 },
      metrics: {}, train: {}, files: { checkpoint: '', encode: '', decode: [], codes: '', items: '' },
    } satisfies BundleManifest;
    return new GenerativeModel(manifest, [...itemIds], codes, sessions);
  }

  /** Mixes memorised transitions into every search from now on (null: the model decodes alone). */
  setMemory(memory: BundleMemory | null): void {
    // The options name the span the table was counted with (bundles store only the options and rebuild
    // the table from them), so the two must agree.
    const span = memory?.options.span ?? 1;
    if (memory && span !== memory.table.span) {
      throw new GenrecError('GENREC_E_MEMORY', `memorised transitions: the options say span ${span}, the table was counted with span ${memory.table.span}`, 'build the table with the span the options name (TransitionTable.knownBefore/fromAll/fromSequences take it)');
    }
    this.memory = memory;
  }

  /**
   * Transitions seen after training (a live event: item b came d positive events after item a), as
   * triples [a0, b0, d0, a1, ...] of dense ids: memorised from the next search on, weighing SPAN_GAIN^(d−1)
   * as in training (sign −1 forgets them again). Without memory, or past the table's span, nothing.
   */
  addTransitions(triples: ArrayLike<number>, sign: 1 | -1 = 1): void {
    const t = this.memory?.table;
    if (!t) return;
    for (let i = 0; i + 2 < triples.length; i += 3) {
      const d = triples[i + 2]!;
      if (d >= 1 && d <= t.span) t.add(triples[i]!, triples[i + 1]!, sign * SPAN_GAIN ** (d - 1));
    }
  }

  /** The memorised transitions' search settings, or null when the model decodes alone. */
  get memoryOptions(): MemoryOptions | null { return this.memory?.options ?? null; }

  /** How many generators decode as one (1 unless the bundle is an ensemble). */
  get members(): number { return this.sessions.length; }

  get config(): GeneratorConfig { return this.manifest.model.config; }
  get version(): number { return this.manifest.version; }
  get items(): number { return this.numItems; }
  get maxLen(): number { return this.config.maxLen; }

  /**
   * `serve` and `genrec recommend` pass item ids only; a model that also reads event types or time gaps
   * would be fed zeros there and recommend worse than it was measured, so they refuse it (evaluation
   * passes both).
   */
  requireItemIdInputsOnly(): void {
    const c = this.config;
    const extra = [...(c.numEventTypes > 0 ? ['event types'] : []), ...(c.gapBuckets > 0 ? ['time gaps'] : [])];
    if (extra.length) {
      throw new GenrecError('GENREC_E_BUNDLE', `model v${this.version} reads ${extra.join(' and ')} besides item ids, which serving and recommend do not pass yet`,
        'serve a model trained without them (the default of genrec train)');
    }
  }

  /** The semantic ID of an item. */
  codeOf(item: number): Int32Array {
    const L = this.config.codeSizes.length;
    return this.codes.subarray(item * L, item * L + L);
  }

  /** Add items (with codes from the tokenizer's incremental path); returns their dense ids. */
  addItems(ids: string[], codes: Int32Array): number[] {
    const c = this.config, L = c.codeSizes.length;
    if (codes.length !== ids.length * L) throw new GenrecError('GENREC_E_CODES', `got ${codes.length} codes for ${ids.length} items of ${L} levels`, 'pass L codes per item');
    const merged = new Int32Array(this.codes.length + codes.length);
    merged.set(this.codes);
    merged.set(codes, this.codes.length);
    const trie = PrefixTrie.build(merged, this.numItems + ids.length, L, c.codeSizes); // validates first
    const first = this.numItems;
    this.codes = merged;
    this.itemIds.push(...ids);
    this.numItems += ids.length;
    this.tokens = itemTokenTable(merged, this.numItems, c.codeSizes);
    this.trie = trie;
    return ids.map((_, i) => first + i);
  }

  async recommend(h: HistoryBatch, opts: RecommendOptions): Promise<BeamResult> {
    return (await this.recommendEach(h, [opts]))[0]!;
  }

  /**
   * Several searches over the same histories (say, with and without seen items): the users' context and
   * the first level's logits, which read nothing else, are computed once for all of them.
   */
  async recommendEach(h: HistoryBatch, searches: RecommendOptions[]): Promise<BeamResult[]> {
    const entry = (await this.keptFirstLevel(h)) ?? { ctx: await this.encodeHistories(h), first: null };
    const ctx = entry.ctx;
    const decode: DecodeFn = (level, rowUser, prefix, rows, rowNode) => {
      // The first level decodes one row per user, in order, in every search.
      if (level === 0 && rows === h.users) return (entry.first ??= this.decodeMembers(ctx, 0, rowUser, prefix, rows, rowNode));
      return this.decodeMembers(ctx, level, rowUser, prefix, rows, rowNode);
    };
    const prior = this.priorOf(h);
    const out: BeamResult[] = [];
    for (const o of searches) {
      out.push(await beamSearch(this.trie, h.users, decode, {
        k: o.k, beam: Math.max(o.beam, o.k), offsets: this.offsets, ...(o.exclude ? { exclude: o.exclude } : {}), ...(prior && o.memory !== false ? { prior } : {}),
      }));
    }
    return out;
  }

  /**
   * Keep each history batch's context and first-level logits for later searches over the same histories.
   * They read only the histories, the model and the catalogue, so a sweep that changes nothing but the
   * memorised transitions between passes (`tuneMemory`) computes them once. Off drops what was kept.
   */
  reuseFirstLevels(on: boolean): void {
    this.firstLevels = on ? (this.firstLevels ?? new Map()) : null;
  }

  /** The kept entry for these histories (made on first sight), or null when nothing is kept. */
  private async keptFirstLevel(h: HistoryBatch): Promise<FirstLevelEntry | null> {
    if (!this.firstLevels) return null;
    const key = hashHistories(h);
    // A catalogue that grew since (addItems) has another trie, and another first level: its entries go.
    const list = (this.firstLevels.get(key) ?? []).filter((e) => e.trie === this.trie);
    const hit = list.find((e) => sameHistories(e.h, h));
    if (hit) return hit;
    const entry: FirstLevelEntry = {
      h: { users: h.users, items: h.items.slice(), ...(h.types ? { types: h.types.slice() } : {}), ...(h.gapSeconds ? { gapSeconds: h.gapSeconds.slice() } : {}) },
      trie: this.trie, ctx: await this.encodeHistories(h), first: null,
    };
    this.firstLevels.set(key, [...list, entry]);
    return entry;
  }

  /** The memorised transitions out of each user's most recent items, as the beam search reads them (once per request). */
  private priorOf(h: HistoryBatch): BeamPrior | null {
    if (!this.memory) return null;
    const { table, options } = this.memory, T = this.maxLen, trie = this.trie;
    const masses: (NodeMass[] | null | undefined)[] = new Array(h.users);
    const recent: number[] = [];
    return {
      beta: options.beta,
      mass: (u) => {
        if (masses[u] !== undefined) return masses[u]!;
        recent.length = 0;
        for (let t = T - 1; t >= 0 && recent.length < options.window && h.items[u * T + t]! > 0; t--) recent.push(h.items[u * T + t]! - 1);
        return (masses[u] = recent.length ? table.prefixMass(trie, recent, options) : null);
      },
    };
  }

  /** The per-user context of each member (the encode graphs' outputs), computed once per request. */
  async encodeHistories(h: HistoryBatch): Promise<UserContext[]> {
    const c = this.config, T = c.maxLen, U = h.users, L = c.codeSizes.length;
    if (h.items.length !== U * T) throw new GenrecError('GENREC_E_SHAPE', `history batch has ${h.items.length} tokens, expected ${U}×${T}`, 'left-pad histories to the model length');
    const mask = new Float32Array(U * T);
    for (let i = 0; i < mask.length; i++) mask[i] = h.items[i]! > 0 ? 1 : 0;
    const feeds: Record<string, ort.Tensor> = {
      items: toOrt(h.items, [U, T]), mask: toOrt(mask, [U, T]), item_tokens: toOrt(this.tokens, [this.numItems + 1, L]),
    };
    if (c.numEventTypes > 0) feeds.types = toOrt(h.types ?? new Int32Array(U * T), [U, T]);
    if (c.gapBuckets > 0) {
      const gaps = new Int32Array(U * T);
      if (h.gapSeconds) for (let i = 0; i < gaps.length; i++) gaps[i] = gapBucket(h.gapSeconds[i]!, c.gapBuckets);
      feeds.gaps = toOrt(gaps, [U, T]);
    }
    if (c.pairInput && this.pairRows) feeds.pair_rows = toOrt(this.pairRows, [this.pairRows.length]);
    if (c.tripleInput && this.trainedTrie) feeds.item_triple_rows = this.tripleRowFeed();
    return Promise.all(this.sessions.map((s) => s.encode.run(feeds)));
  }

  /**
   * One beam step's logits given the users' contexts, one array per member (the beam search's
   * `DecodeFn`): [rows, K_level], or at each row's children only (`childWidth`) where the graph returns
   * `child_logits`. The search averages an ensemble's logits over each prefix's valid children and
   * normalises them there: the normalised geometric mean of the members' next-code distributions (each
   * member's own normaliser is a constant of the row and cancels).
   */
  async decodeMembers(ctx: UserContext[], level: number, rowUser: Int32Array, prefix: Int32Array, rows: number, rowNode: Int32Array): Promise<DecodeOutput> {
    const f: Record<string, ort.Tensor> = { row_user: toOrt(rowUser, [rows]) };
    if (level > 0) f.prefix = toOrt(prefix, [rows, level]);
    if (this.pairRows && level < 2) Object.assign(f, level === 0 ? this.prefixFeeds() : {}, this.childFeeds());
    if (level === 2 && this.trainedTrie) Object.assign(f, this.tripleFeeds(), { triple_node: toOrt(rowNode, [rows]) });
    // The second level reads the users' score tables from the first level's outputs (kept in the context).
    if (level === 1 && !ctx[0]![FIRST_LEVEL_SCORES[0]] && this.sessions[0]!.decode[1]!.inputNames.includes(FIRST_LEVEL_SCORES[0])) {
      const users = Object.values(ctx[0]!)[0]!.dims[0]!;
      const all = Int32Array.from({ length: users }, (_, u) => u);
      await this.decodeMembers(ctx, 0, all, new Int32Array(0), users, new Int32Array(users));
    }
    if (level === 1 && this.pairRows && rows > 0 && this.sessions[0]!.decode[1]!.outputNames.includes('child_logits')) return this.secondLevelByGroups(ctx, f, rowUser, prefix, rows);
    let childWidth: number | undefined;
    const logits = (await this.runMembers(ctx, level, f)).map((out) => {
      if (!out.child_logits) return out.logits!.data as Float32Array;
      childWidth = out.child_logits.dims[1]!;
      return out.child_logits.data as Float32Array;
    });
    return childWidth === undefined ? { logits } : { logits, childWidth };
  }

  /** Every member's level-`level` decode graph on the feeds `f` (and its own context); first-level score tables are kept in the context. */
  private runMembers(ctx: UserContext[], level: number, f: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>[]> {
    return Promise.all(this.sessions.map(async (s, i) => {
      const graph = s.decode[level]!, own: Record<string, ort.Tensor> = {};
      // Each graph takes the tables it reads (a bundle written before the flat first-level table reads the children's).
      for (const n of graph.inputNames) {
        const t = f[n] ?? ctx[i]![n];
        if (!t) throw new GenrecError('GENREC_E_BUNDLE', `the level-${level} decode graph asks for an input '${n}' this genrec does not provide`, 'the bundle was written by another genrec version: train it again with this one');
        own[n] = t;
      }
      const out = await graph.run(own);
      for (const n of FIRST_LEVEL_SCORES) if (out[n]) ctx[i]![n] = out[n]!;
      return out;
    }));
  }

  /**
   * A pair softmax's second level with its rows in child-count groups: each group's rows read the children
   * tables cut to the group's widest code (the graph's `width` is free), so a row costs about its own code's
   * children, not the widest code's (66 slots against 21 children on average on Beauty). A row's logits
   * depend on that row alone, so they are the same; they go back in the caller's row order at full width.
   */
  private async secondLevelByGroups(ctx: UserContext[], f: Record<string, ort.Tensor>, rowUser: Int32Array, prefix: Int32Array, rows: number): Promise<DecodeOutput> {
    const g = this.childGroupFeeds(), W = g.width, off = this.offsets[0]!;
    const logits = this.sessions.map(() => new Float32Array(rows * W).fill(-1e9));
    // The rows by group in one counting pass: group gi's rows are at[start[gi] … start[gi + 1]), in row order.
    const G = g.widths.length, start = new Int32Array(G + 1), at = new Int32Array(rows);
    for (let r = 0; r < rows; r++) start[g.groupOf[prefix[r]! - off]! + 1]!++;
    for (let gi = 0; gi < G; gi++) start[gi + 1]! += start[gi]!;
    const fill = start.slice(0, G);
    for (let r = 0; r < rows; r++) at[fill[g.groupOf[prefix[r]! - off]!]!++] = r;
    for (let gi = 0; gi < G; gi++) {
      const n = start[gi + 1]! - start[gi]!, w = g.widths[gi]!, mine = at.subarray(start[gi]!, start[gi + 1]!);
      if (n === 0) continue;
      const users = Int32Array.from(mine, (r) => rowUser[r]!), pre = Int32Array.from(mine, (r) => prefix[r]!);
      const outs = await this.runMembers(ctx, 1, { ...f, ...g.tables[gi]!, row_user: toOrt(users, [n]), prefix: toOrt(pre, [n, 1]) });
      outs.forEach((o, m) => {
        const src = o.child_logits!.data as Float32Array;
        for (let k = 0; k < n; k++) logits[m]!.set(src.subarray(k * w, k * w + w), mine[k]! * W);
      });
    }
    return { logits, childWidth: W };
  }

  /** The children tables cut to each child-count group's width (`childCountGroups` over the first-level codes), and each code's group. */
  private childGroupFeeds(): { width: number; groupOf: Int32Array; widths: number[]; tables: Record<string, ort.Tensor>[] } {
    if (this.childGroupCache?.trie !== this.trie) {
      // The full children tables childFeeds already built for this catalogue, cut by column.
      const K0 = this.config.codeSizes[0]!, full = this.childFeeds(), W = full.child_codes!.dims[1]!;
      const t = { codes: full.child_codes!.data as Int32Array, rows: full.child_rows!.data as Int32Array, known: full.child_known!.data as Float32Array, mask: full.child_mask!.data as Float32Array };
      const counts = new Int32Array(K0);
      for (let c = 0; c < K0; c++) for (let j = 0; j < W; j++) if (t.mask[c * W + j] === 0) counts[c]!++;
      const { sorted, cuts } = childCountGroups(counts, FIRST_LEVEL_GROUPS);
      const groupOf = new Int32Array(K0), widths: number[] = [], tables: Record<string, ort.Tensor>[] = [];
      cuts.forEach(([i, j], gi) => {
        const w = Math.max(1, counts[sorted[j - 1]!]!);
        for (let k = i; k < j; k++) groupOf[sorted[k]!] = gi;
        const cut = <A extends Int32Array | Float32Array>(a: A): A => {
          const o = new (a.constructor as new (n: number) => A)(K0 * w);
          for (let c = 0; c < K0; c++) o.set(a.subarray(c * W, c * W + w), c * w);
          return o;
        };
        widths.push(w);
        tables.push({ child_codes: toOrt(cut(t.codes), [K0, w]), child_rows: toOrt(cut(t.rows), [K0, w]), child_known: toOrt(cut(t.known), [K0, w]), child_mask: toOrt(cut(t.mask), [K0, w]) });
      });
      this.childGroupCache = { trie: this.trie, value: { width: W, groupOf, widths, tables } };
    }
    return this.childGroupCache.value;
  }

  /** `decodeMembers` with the members' logits averaged, [rows, K_level] over every code (−∞ where a graph gave children only and the code is not one). */
  async decodeLevel(ctx: UserContext[], level: number, rowUser: Int32Array, prefix: Int32Array, rows: number, rowNode: Int32Array): Promise<Float32Array> {
    const { logits, childWidth } = await this.decodeMembers(ctx, level, rowUser, prefix, rows, rowNode);
    const K = this.config.codeSizes[level]!, n = logits.length;
    const mean = new Float32Array(rows * K);
    if (childWidth === undefined) {
      for (const x of logits) for (let j = 0; j < mean.length; j++) mean[j] = mean[j]! + x[j]! / n;
      return mean;
    }
    // Child-ordered rows (the pair softmax's second level): placed at their codes from the children table.
    mean.fill(-Infinity);
    const t = this.childFeeds(), codes = t.child_codes!.data as Int32Array, pad = t.child_mask!.data as Float32Array, off = this.offsets[0]!;
    for (let r = 0; r < rows; r++) {
      const parent = prefix[r * level]! - off;
      for (let i = 0; i < childWidth; i++) {
        if (pad[parent * childWidth + i] !== 0) continue; // past the parent's last child
        const at = r * childWidth + i;
        mean[r * K + codes[parent * childWidth + i]!] = logits.reduce((a, x) => a + x[at]!, 0) / n;
      }
    }
    return mean;
  }

  /** A pair-softmax model's first level: the current catalogue's (c₀, c₁) prefixes as one flat table, with its codes' prefixes in child-count groups. */
  private prefixFeeds(): Record<string, ort.Tensor> {
    if (this.prefixCache?.trie !== this.trie) {
      const [K0, K1] = this.config.codeSizes as [number, number];
      const t = firstLevelPrefixes(this.trie, this.pairRows!, this.config.pairRows!, K0, K1), P = t.count;
      const feeds: Record<string, ort.Tensor> = { prefix_codes: toOrt(t.codes, [P]), prefix_rows: toOrt(t.rows, [P]), prefix_known: toOrt(t.known, [P]), prefix_order: toOrt(t.order, [K0]) };
      t.groups.forEach((gr, i) => { feeds[`prefix_index_${i}`] = toOrt(gr.index, [gr.count, gr.width]); feeds[`prefix_mask_${i}`] = toOrt(gr.mask, [gr.count, gr.width]); });
      // Graphs exported before the groups read one padded table (with `child_mask`).
      feeds.prefix_index = toOrt(t.index, [K0, t.width]);
      this.prefixCache = { trie: this.trie, feeds };
    }
    return this.prefixCache.feeds;
  }

  /** A pair-softmax model decodes its first two levels over the current catalogue's prefixes. */
  private childFeeds(): Record<string, ort.Tensor> {
    if (this.childCache?.trie !== this.trie) {
      const [K0, K1] = this.config.codeSizes as [number, number];
      const t = prefixChildren(this.trie, this.pairRows!, this.config.pairRows!, K0, K1), dims = [K0, t.width];
      this.childCache = { trie: this.trie, feeds: { child_codes: toOrt(t.codes, dims), child_rows: toOrt(t.rows, dims), child_known: toOrt(t.known, dims), child_mask: toOrt(t.mask, dims) } };
    }
    return this.childCache.feeds;
  }

  /** A `tripleInput` model's item → triple-row table for the current catalogue. */
  private tripleRowFeed(): ort.Tensor {
    if (this.tripleRowCache?.trie !== this.trie) {
      const t = itemTripleRows(this.trainedTrie!, this.codes, this.numItems, this.config.codeSizes.length);
      this.tripleRowCache = { trie: this.trie, feed: toOrt(t, [t.length]) };
    }
    return this.tripleRowCache.feed;
  }

  /** Third-level children tables of a `tripleVectors` model, per current trie (rows are indexed by the beam's depth-2 nodes). */
  private tripleFeeds(): Record<string, ort.Tensor> {
    if (this.tripleCache?.trie !== this.trie) {
      const t = tripleChildren(this.trie, this.trainedTrie!), dims = [t.nodes, t.width];
      this.tripleCache = { trie: this.trie, feeds: { triple_codes: toOrt(t.codes, dims), triple_rows: toOrt(t.rows, dims), triple_known: toOrt(t.known, dims) } };
    }
    return this.tripleCache.feeds;
  }

  /**
   * Why an item was recommended: the history items whose semantic ID shares the longest prefix with
   * it (most recent first), and that prefix; with memory, also the recent history items it was memorised
   * after (`followed`, most recent first, with how often it followed them — weighted by distance when
   * the table spans more than the next item — or, when the model reads pairs both ways, preceded them).
   */
  explain(item: number, history: ArrayLike<number>, max = 3): { items: number[]; sharedPrefix: number[]; followed: Array<{ item: number; times: number }> } {
    const followed: Array<{ item: number; times: number }> = [];
    if (this.memory) {
      const { table, options } = this.memory;
      for (let i = history.length - 1; i >= 0 && i >= history.length - options.window; i--) {
        const h = history[i]!;
        const times = table.times(h, item) + (options.reverse > 0 ? table.times(item, h) : 0);
        if (times > 0 && h !== item && !followed.some((f) => f.item === h)) followed.push({ item: h, times });
      }
    }
    const target = this.codeOf(item);
    let best = 0;
    const byLen: number[][] = [];
    for (let i = history.length - 1; i >= 0; i--) {
      const h = history[i]!;
      if (h < 0 || h >= this.numItems || h === item) continue;
      const code = this.codeOf(h);
      let n = 0;
      while (n < target.length && code[n] === target[n]) n++;
      (byLen[n] ??= []).push(h);
      best = Math.max(best, n);
    }
    return { items: (byLen[best] ?? []).filter((v, i, a) => a.indexOf(v) === i).slice(0, max), sharedPrefix: Array.from(target.subarray(0, best)), followed: followed.slice(0, max) };
  }

  async close(): Promise<void> {
    await Promise.all(this.sessions.flatMap((s) => [s.encode.release(), ...s.decode.map((d) => d.release())]));
  }
}

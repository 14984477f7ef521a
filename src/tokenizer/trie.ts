/**
 * Prefix trie of valid semantic IDs, flat and typed for constrained beam search.
 *
 * Items are sorted lexicographically by code, so at every depth the nodes (distinct prefixes) are in
 * sorted order and each node's children are one contiguous, token-sorted range of the next depth:
 *
 *   depth l nodes: 0 .. nodeCount[l]-1          (depth 0 is the root, depth D the leaves = items)
 *   children of node p at depth l: nodes childStart[l][p] .. childStart[l][p+1]-1 at depth l+1
 *   token of node j at depth l+1:  tokens[l][j]          (so the allowed tokens are a sorted view)
 *   leaves under node p at depth l: leafStart[l][p] .. leafStart[l][p+1]-1  (leaf j is item leafItem[j])
 *
 * A beam search keeps one node id per beam: the allowed next tokens of B×beam prefixes at step l are
 * `allowedMask(l, nodes, out)` (dense) or `allowedList(l, nodes)` (CSR of views), and the child reached
 * by a chosen token is `next(l, nodes, tokens, out)`; no per-step allocation of objects.
 */
import { GenrecError } from '../engine/errors.js';

/** Lexicographic order of `count` codes of length `depth` (LSD counting sort; stable). */
export function sortCodes(codes: Int32Array, count: number, depth: number, sizes: ArrayLike<number>): Int32Array {
  let order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  let tmp = new Int32Array(count);
  for (let l = depth - 1; l >= 0; l--) {
    const size = sizes[l]!;
    const bucket = new Int32Array(size + 1);
    for (let i = 0; i < count; i++) bucket[codes[i * depth + l]! + 1]!++;
    for (let b = 0; b < size; b++) bucket[b + 1]! += bucket[b]!;
    for (let i = 0; i < count; i++) {
      const row = order[i]!;
      tmp[bucket[codes[row * depth + l]!]!++] = row;
    }
    [order, tmp] = [tmp, order];
  }
  return order;
}

export class PrefixTrie {
  private constructor(
    /** Code length D (levels + dedup level). */
    readonly depth: number,
    /** Vocabulary size of each level (length D). */
    readonly sizes: Int32Array,
    /** Nodes at depth 0..D (length D+1; nodeCount[0] = 1, nodeCount[D] = items). */
    readonly nodeCount: Int32Array,
    readonly tokens: Int32Array[],
    readonly childStart: Int32Array[],
    readonly parent: Int32Array[],
    readonly leafStart: Int32Array[],
    /** Leaf (lexicographic rank) → item index. */
    readonly leafItem: Int32Array,
    /** Item index → leaf. */
    readonly itemLeaf: Int32Array,
  ) {}

  /** Build from codes (count × depth, row = item). Throws GENREC_E_TOKENIZER_DUPLICATE on a repeated code. */
  static build(codes: Int32Array, count: number, depth: number, sizes: ArrayLike<number>): PrefixTrie {
    const sz = Int32Array.from({ length: depth }, (_, l) => sizes[l]!);
    for (let i = 0; i < count * depth; i++) {
      const c = codes[i]!, l = i % depth;
      if (!(c >= 0 && c < sz[l]!)) {
        throw new GenrecError('GENREC_E_TOKENIZER_CODES', `item ${Math.floor(i / depth)} has code ${c} at level ${l}, outside [0, ${sz[l]})`, 'the codes are damaged; refit the tokenizer', { item: Math.floor(i / depth), level: l });
      }
    }
    const order = sortCodes(codes, count, depth, sz);
    // firstDiff[r]: the first level at which sorted row r differs from row r-1 (0 for the first row).
    const firstDiff = new Uint8Array(count);
    const nodeCount = new Int32Array(depth + 1);
    nodeCount[0] = 1;
    for (let r = 0; r < count; r++) {
      let f = 0;
      if (r > 0) {
        const a = order[r - 1]! * depth, b = order[r]! * depth;
        while (f < depth && codes[a + f] === codes[b + f]) f++;
        if (f === depth) {
          throw new GenrecError('GENREC_E_TOKENIZER_DUPLICATE', `items ${order[r - 1]} and ${order[r]} have the same code (${Array.from(codes.subarray(b, b + depth)).join(', ')})`,
            'every item needs a unique code: re-run de-duplication or refit the tokenizer', { items: [order[r - 1], order[r]] });
        }
      }
      firstDiff[r] = f;
      for (let l = f; l < depth; l++) nodeCount[l + 1]!++;
    }
    if (count === 0) nodeCount[0] = 1;
    const tokens: Int32Array[] = [], parent: Int32Array[] = [], childStart: Int32Array[] = [], leafStart: Int32Array[] = [];
    for (let l = 0; l < depth; l++) {
      tokens.push(new Int32Array(nodeCount[l + 1]!));
      parent.push(new Int32Array(nodeCount[l + 1]!));
      childStart.push(new Int32Array(nodeCount[l]! + 1));
    }
    for (let l = 0; l <= depth; l++) leafStart.push(new Int32Array(nodeCount[l]! + 1));
    // Walk sorted rows; cur[l] = index of the current node at depth l.
    const cur = new Int32Array(depth + 1).fill(-1);
    cur[0] = 0;
    leafStart[0]![0] = 0;
    for (let r = 0; r < count; r++) {
      const row = order[r]! * depth;
      for (let l = firstDiff[r]!; l < depth; l++) {
        const j = ++cur[l + 1]!;
        tokens[l]![j] = codes[row + l]!;
        parent[l]![j] = cur[l]!;
        leafStart[l + 1]![j] = r;
      }
    }
    for (let l = 0; l <= depth; l++) leafStart[l]![nodeCount[l]!] = count;
    // childStart from parent counts (children of a node are contiguous because rows are sorted).
    for (let l = 0; l < depth; l++) {
      const cs = childStart[l]!, par = parent[l]!;
      for (let j = 0; j < par.length; j++) cs[par[j]! + 1]!++;
      for (let p = 0; p < nodeCount[l]!; p++) cs[p + 1]! += cs[p]!;
    }
    const itemLeaf = new Int32Array(count);
    for (let r = 0; r < count; r++) itemLeaf[order[r]!] = r;
    return new PrefixTrie(depth, sz, nodeCount, tokens, childStart, parent, leafStart, order, itemLeaf);
  }

  get items(): number { return this.leafItem.length; }

  /** Allowed tokens after node `node` at depth `level` (a sorted view; empty for node < 0). */
  allowed(level: number, node: number): Int32Array {
    if (node < 0) return this.tokens[level]!.subarray(0, 0);
    const cs = this.childStart[level]!;
    return this.tokens[level]!.subarray(cs[node]!, cs[node + 1]!);
  }

  /**
   * Dense mask of allowed tokens for B nodes at depth `level`: out[b·V + t] = 1 when allowed (V =
   * sizes[level]). A node of -1 (a dead beam) allows nothing.
   */
  allowedMask(level: number, nodes: Int32Array, out: Uint8Array): Uint8Array {
    return this.fillMask(level, nodes, out, 0, 1);
  }

  /** Additive logit mask: 0 where allowed, `blocked` (default -Infinity) elsewhere; B × sizes[level]. */
  allowedLogitMask(level: number, nodes: Int32Array, out: Float32Array, blocked = -Infinity): Float32Array {
    return this.fillMask(level, nodes, out, blocked, 0);
  }

  private fillMask<T extends Uint8Array | Float32Array>(level: number, nodes: Int32Array, out: T, off: number, on: number): T {
    const V = this.sizes[level]!;
    out.fill(off, 0, nodes.length * V);
    const cs = this.childStart[level]!, tok = this.tokens[level]!;
    for (let b = 0; b < nodes.length; b++) {
      const p = nodes[b]!;
      if (p < 0) continue;
      const o = b * V;
      for (let j = cs[p]!, e = cs[p + 1]!; j < e; j++) out[o + tok[j]!] = on;
    }
    return out;
  }

  /** Allowed tokens of B nodes as CSR: tokens of row b are tokens[offsets[b] .. offsets[b+1]). */
  allowedList(level: number, nodes: Int32Array): { offsets: Int32Array; tokens: Int32Array } {
    const cs = this.childStart[level]!, tok = this.tokens[level]!;
    const offsets = new Int32Array(nodes.length + 1);
    for (let b = 0; b < nodes.length; b++) {
      const p = nodes[b]!;
      offsets[b + 1] = offsets[b]! + (p < 0 ? 0 : cs[p + 1]! - cs[p]!);
    }
    const out = new Int32Array(offsets[nodes.length]!);
    for (let b = 0; b < nodes.length; b++) {
      const p = nodes[b]!;
      if (p >= 0) out.set(tok.subarray(cs[p]!, cs[p + 1]!), offsets[b]!);
    }
    return { offsets, tokens: out };
  }

  /** Child of node (depth `level`) through `token`, or -1 (binary search in the sorted child range). */
  child(level: number, node: number, token: number): number {
    if (node < 0) return -1;
    const cs = this.childStart[level]!, tok = this.tokens[level]!;
    let lo = cs[node]!, hi = cs[node + 1]! - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1, t = tok[mid]!;
      if (t === token) return mid;
      if (t < token) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Batched `child`: out[b] = child of nodes[b] through tokens[b] (-1 when not a valid prefix). */
  next(level: number, nodes: Int32Array, tokens: Int32Array, out: Int32Array = new Int32Array(nodes.length)): Int32Array {
    for (let b = 0; b < nodes.length; b++) out[b] = this.child(level, nodes[b]!, tokens[b]!);
    return out;
  }

  /** Nodes of B prefixes of length `len` (codes row-major with row stride `stride`, default len). */
  walk(codes: Int32Array, count: number, len: number, stride = len): Int32Array {
    const out = new Int32Array(count);
    for (let b = 0; b < count; b++) {
      let node = 0;
      for (let l = 0; l < len && node >= 0; l++) node = this.child(l, node, codes[b * stride + l]!);
      out[b] = node;
    }
    return out;
  }

  /** Item of a full code, or -1. */
  lookup(code: ArrayLike<number>): number {
    let node = 0;
    for (let l = 0; l < this.depth && node >= 0; l++) node = this.child(l, node, code[l]!);
    return node < 0 ? -1 : this.leafItem[node]!;
  }

  /** Items whose code starts with node `node` at depth `level` (a view over leafItem). */
  itemsUnder(level: number, node: number): Int32Array {
    const ls = this.leafStart[level]!;
    return this.leafItem.subarray(ls[node]!, ls[node + 1]!);
  }
}

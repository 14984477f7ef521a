import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csrTokens, positiveOnly, type Dataset } from './dataset.js';
import { datasetFromData } from './load.js';
import { evalCases, leaveOneOut } from './split.js';
import { generateSynthetic } from './synthetic.js';

/** NDCG@10 of MostPop and of a first-order item-to-item (Markov) recommender under leave-one-out. */
function popVsMarkov(ds: Dataset): { pop: number; markov: number } {
  const inter = ds.interactions;
  const split = leaveOneOut(inter);
  const pop = new Float64Array(inter.numItems);
  const next = new Map<number, Map<number, number>>();
  for (let u = 0; u < inter.numUsers; u++) {
    for (let k = inter.userOffsets[u]!; k <= split.trainEnd[u]! && k < inter.userOffsets[u + 1]!; k++) {
      pop[inter.items[k]!]!++;
      if (k > inter.userOffsets[u]!) {
        const m = next.get(inter.items[k - 1]!) ?? new Map<number, number>();
        m.set(inter.items[k]!, (m.get(inter.items[k]!) ?? 0) + 1);
        next.set(inter.items[k - 1]!, m);
      }
    }
  }
  const byPop = Array.from(pop.keys()).sort((a, b) => pop[b]! - pop[a]!);
  const cases = evalCases(split, 'test');
  let p = 0, m = 0;
  const ndcg = (ranked: number[], seen: Set<number>, target: number) => {
    const top = ranked.filter((i) => !seen.has(i)).slice(0, 10);
    const r = top.indexOf(target);
    return r < 0 ? 0 : 1 / Math.log2(r + 2);
  };
  for (let c = 0; c < cases.count; c++) {
    const u = cases.users[c]!, end = cases.historyEnd[c]!;
    const seen = new Set(inter.items.subarray(inter.userOffsets[u]!, end));
    p += ndcg(byPop.slice(0, 200), seen, cases.targets[c]!);
    const succ = [...(next.get(inter.items[end - 1]!) ?? new Map<number, number>())].sort((a, b) => b[1] - a[1]).map((e) => e[0]);
    m += ndcg([...succ, ...byPop.slice(0, 200)], seen, cases.targets[c]!);
  }
  return { pop: p / cases.count, markov: m / cases.count };
}

describe('synthetic generator', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = generateSynthetic({ seed: 5, users: 50, items: 200 });
    const b = generateSynthetic({ seed: 5, users: 50, items: 200 });
    const c = generateSynthetic({ seed: 6, users: 50, items: 200 });
    assert.deepEqual(a.events!.item, b.events!.item);
    assert.deepEqual(a.events!.ts, b.events!.ts);
    assert.deepEqual(a.items!.text, b.items!.text);
    assert.notDeepEqual(a.events!.item, c.events!.item);
  });

  it('looks like a real log: popularity skew, sessions, negative feedback, topical text', async () => {
    const data = generateSynthetic({ seed: 1, users: 400, items: 800 });
    const ds = await datasetFromData(data, { catalog: 'all' });
    const inter = ds.interactions;
    assert.ok(inter.hasTimestamps);
    const counts = new Float64Array(inter.numItems);
    for (const i of inter.items) counts[i]!++;
    const sorted = Array.from(counts).sort((x, y) => y - x);
    const top = sorted.slice(0, Math.ceil(sorted.length / 10)).reduce((s, x) => s + x, 0);
    assert.ok(top / inter.items.length > 0.3, `top 10% of items get ${top / inter.items.length} of events`);
    const types = new Set(Array.from(inter.types, (t) => ds.eventTypes.names[t]));
    for (const t of ['view', 'like', 'skip', 'dislike', 'short_view']) assert.ok(types.has(t), t);
    let negative = 0;
    for (const t of inter.types) if (ds.eventTypes.isNegative(t)) negative++;
    assert.ok(negative / inter.items.length > 0.03 && negative / inter.items.length < 0.4);
    // Values are watch seconds, never longer than the item.
    for (let k = 0; k < 200; k++) assert.ok(inter.values[k]! <= ds.items.duration[inter.items[k]!]! + 0.05);
    // Items' text shares words with their sub-topic name; categories are topic and topic/sub-topic.
    const cats = csrTokens(ds.items.categories, 0);
    assert.equal(cats.length, 2);
    assert.ok(cats[1]!.startsWith(`${cats[0]}/`));
    const withSubWord = ds.items.ids.filter((_, i) => { const c = csrTokens(ds.items.categories, i)[1]!.split('/')[1]!.split(' '); return c.some((w) => ds.items.texts[i]!.includes(w)); }).length;
    assert.equal(withSubWord, ds.items.count, 'every item mentions its sub-topic');
    // Sessions: gaps within a user are mostly short, sometimes long.
    let short = 0, long = 0;
    for (let k = 1; k < inter.items.length; k++) {
      const gap = inter.timestamps[k]! - inter.timestamps[k - 1]!;
      if (gap > 0 && gap < 3600) short++; else if (gap > 6 * 3600) long++;
    }
    assert.ok(short > long && long > 0);
  });

  it('has strong sequential signal: item-to-item beats popularity by far', async () => {
    const ds = positiveOnly(await datasetFromData(generateSynthetic({ seed: 2, users: 600, items: 1000 })));
    const { pop, markov } = popVsMarkov(ds);
    assert.ok(markov > 3 * pop, `markov NDCG@10 ${markov.toFixed(4)} vs MostPop ${pop.toFixed(4)}`);
  });
});

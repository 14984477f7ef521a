/**
 * `genrec recommend`: batch recommendations from a model bundle as JSONL on stdout — one line per user:
 * {"user": id, "items": [{"item": id, "score": logp}, …]} — for every user of the store's data (or a
 * dataset folder), or for the users given with --users. Seen items are excluded unless --include-seen.
 */
import type { Command } from 'commander';
import { GenrecError } from '../../engine/errors.js';
import type { Interactions } from '../../data/index.js';
import { configOf } from '../program.js';
import { sink } from '../output.js';
import { addSourceOptions, type SourceOptions } from './import.js';
import { resolveBundle } from './eval.js';
import { commandDataset } from './train.js';

interface RecommendOptions extends SourceOptions { bundle?: string; users?: string; n: string; beam: string; includeSeen?: boolean; batch: string }

export function register(program: Command): void {
  const cmd = program.command('recommend').description('top-N recommendations per user as JSONL (batch use)');
  addSourceOptions(cmd)
    .option('--bundle <dir>', 'model bundle (default: the newest under <dataDir>/models)')
    .option('--users <ids>', 'comma-separated user ids (default: every user)')
    .option('-n, --n <n>', 'items per user', '10')
    .option('--beam <n>', 'beam width (≥ n)', '20')
    .option('--include-seen', 'allow items already in the user history')
    .option('--batch <n>', 'users per model run', '256')
    .action(async (opts: RecommendOptions, c: Command) => {
      const config = configOf(c);
      const n = Number(opts.n), beam = Math.max(Number(opts.beam), n), batch = Number(opts.batch);
      if (!(Number.isInteger(n) && n > 0 && Number.isInteger(batch) && batch > 0)) throw new GenrecError('GENREC_E_USAGE', '-n and --batch must be positive integers', 'e.g. -n 10');
      const data = await import('../../data/index.js');
      const { GenerativeModel } = await import('../../retrieval/index.js');
      const dir = await resolveBundle(opts.bundle, config.dataDir);
      const ds = await commandDataset(opts, config.dataDir);
      const gm = await GenerativeModel.load(dir);
      try { gm.requireItemIdInputsOnly(); } catch (e) { await gm.close(); throw e; }
      // As `serve`: every event counts as seen; the history is the engagements (what training read).
      const inter = ds.interactions, engaged = data.positiveOnly(ds).interactions;
      // The bundle's dense ids may differ from this dataset's: map by external id.
      const toModel = new Map(gm.itemIds.map((id, i) => [id, i]));
      const local = Int32Array.from(ds.items.ids, (id) => toModel.get(id) ?? -1);
      const userIndex = new Map(ds.users.ids.map((id, i) => [id, i]));
      const users = opts.users ? opts.users.split(',').map((s) => s.trim()).filter(Boolean) : ds.users.ids;
      const unknown = users.filter((u) => !userIndex.has(u));
      if (unknown.length) throw new GenrecError('GENREC_E_UNKNOWN_USER', `unknown user id(s): ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''}`, 'pass ids that exist in the data');
      const T = gm.maxLen;
      try {
        for (let from = 0; from < users.length; from += batch) {
          const chunk = users.slice(from, from + batch);
          const items = new Int32Array(chunk.length * T);
          const seen: Int32Array[] = [];
          chunk.forEach((id, r) => {
            const u = userIndex.get(id)!;
            const toLocal = (x: Interactions) => Int32Array.from(x.items.subarray(x.userOffsets[u]!, x.userOffsets[u + 1]!), (i) => local[i]!).filter((i) => i >= 0);
            seen.push(toLocal(inter));
            const hist = toLocal(engaged);
            const tail = hist.subarray(Math.max(0, hist.length - T));
            for (let j = 0; j < tail.length; j++) items[r * T + T - tail.length + j] = tail[j]! + 1;
          });
          const res = await gm.recommend({ users: chunk.length, items }, { k: n, beam, ...(opts.includeSeen ? {} : { exclude: (u: number) => seen[u]! }) });
          let out = '';
          chunk.forEach((id, r) => {
            const recs: Array<{ item: string; score: number }> = [];
            for (let j = 0; j < n; j++) {
              const it = res.items[r * n + j]!;
              if (it >= 0) recs.push({ item: gm.itemIds[it]!, score: Number(res.scores[r * n + j]!.toFixed(5)) });
            }
            out += JSON.stringify({ user: id, items: recs }) + '\n';
          });
          if (!sink.out(out)) await sink.drained();
        }
      } finally {
        await gm.close();
      }
    });
}

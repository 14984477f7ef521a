/**
 * `genrec export`: copies a bundle's inference graphs (standard ONNX, weights embedded) and its item →
 * semantic-ID table to a directory, with a README of the graphs' inputs and outputs, for use from any
 * ONNX Runtime (Python, C++, Java, the browser, CUDA).
 */
import type { Command } from 'commander';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { printResult } from '../output.js';
import { configOf, globalOptions } from '../program.js';
import { resolveBundle } from './eval.js';
import type { BundleManifest } from '../../train/bundle.js';

export function register(program: Command): void {
  program.command('export')
    .description('export a bundle\'s ONNX graphs and semantic-ID table to a directory')
    .requiredOption('--out <dir>', 'destination directory')
    .option('--bundle <dir>', 'model bundle (default: the newest under <dataDir>/models)')
    .action(async (opts: { out: string; bundle?: string }, c: Command) => {
      const config = configOf(c);
      const { json = false } = globalOptions(c);
      const { readBundle } = await import('../../train/index.js');
      const dir = await resolveBundle(opts.bundle, config.dataDir);
      const b = readBundle(dir);
      const out = resolve(opts.out);
      mkdirSync(out, { recursive: true });
      const members = b.manifest.files.members ?? [];
      const files = [b.manifest.files.encode, ...b.manifest.files.decode, ...members.flatMap((m) => [m.encode, ...m.decode]), b.manifest.files.codes, b.manifest.files.items, 'manifest.json'];
      for (const f of files) {
        mkdirSync(dirname(join(out, f)), { recursive: true });
        copyFileSync(join(dir, f), join(out, f));
      }
      writeFileSync(join(out, 'README.md'), await graphsReadme(b));
      printResult({ bundle: dir, out, files: files.length + 1 }, json);
    });
}

/**
 * What each graph input and output holds. The README lists every graph's real inputs (read from the
 * ONNX files), so a model with the pair softmax, third-level vectors or tied inputs documents the
 * tables it needs.
 */
const TENSORS: Record<string, string> = {
  items: 'int32 [users, T]: item index + 1, left-padded with 0, oldest first',
  mask: 'float32 [users, T]: 1 where `items` holds an item',
  item_tokens: 'int32 [items + 1, L]: each item\'s flat code tokens (level l\'s code c is token offset_l + c, offsets start at 1; row 0 is padding), from codes.safetensors',
  types: 'int32 [users, T]: event type + 1 (0 = padding)',
  gaps: 'int32 [users, T]: log-scale bucket of the seconds since the previous event',
  pair_rows: 'int32 [K₀·K₁]: the pair-table row of prefix c₀·K₁ + c₁ among the training catalogue\'s (c₀, c₁) prefixes in sorted order, or their count when it has none',
  item_triple_rows: 'int32 [items + 1]: each item\'s row among the training catalogue\'s (c₀, c₁, c₂) prefixes in sorted order, −1 when it has none (index 0: padding)',
  ctx_h: 'float32 [users, d]: the user context from the encode graph',
  ctx_bias: 'float32 [users, 1, 1, T]: history padding bias from the encode graph',
  row_user: 'int32 [rows]: the user (row of the context) of each beam row',
  prefix: 'int32 [rows, l]: the flat code tokens chosen so far',
  prefix_codes: 'int32 [P]: the second-level code of each (c₀, c₁) prefix of the current catalogue, in sorted order',
  prefix_rows: 'int32 [P]: each prefix\'s pair-table row (see `pair_rows`; 0 when it has none)',
  prefix_known: 'float32 [P]: 1 where the prefix has a pair-table row (prefixes newer than the model have none)',
  prefix_index: 'int32 [K₀, C]: for each first-level code, its prefixes\' positions in the `prefix_codes` order (padded; see `child_mask`)',
  prefix_order: 'int32 [K₀]: each first-level code\'s row among the `prefix_index_g` rows, concatenated in g order',
  child_codes: 'int32 [K₀, C]: for each first-level code, its children\'s second-level codes in the current catalogue (padded)',
  child_rows: 'int32 [K₀, C]: those children\'s pair-table rows (see `pair_rows`)',
  child_known: 'float32 [K₀, C]: 1 where the child has a pair-table row (prefixes newer than the model have none)',
  child_mask: 'float32 [K₀, C]: 0 for a real child, −1e9 for padding',
  triple_node: 'int32 [rows]: each beam row\'s (c₀, c₁) prefix, as its index among the current catalogue\'s (c₀, c₁) prefixes in sorted order',
  triple_codes: 'int32 [prefixes, C]: for each (c₀, c₁) prefix, its children\'s third-level codes (padded)',
  triple_rows: 'int32 [prefixes, C]: those children\'s rows in the third-level table (see `item_triple_rows`)',
  triple_known: 'float32 [prefixes, C]: 1 where the child has a third-level row',
  logits: 'float32 [rows, K_l]: scores of level l\'s codes; beam search normalises them (softmax) over the valid children of each prefix — the codes present in codes.safetensors — and keeps only valid prefixes',
  user_code_scores: 'float32 [users, K₁]: each user\'s score of every second-level code, from the first level\'s graph to the second\'s',
  user_pair_scores: 'float32 [users, R]: each user\'s score of every pair-table row, from the first level\'s graph to the second\'s',
  child_logits: 'float32 [rows, C]: the second level\'s scores at the children of each row\'s first-level code only, in `child_codes` order (−1e9 for padding); normalised over those children as `logits` are',
};

function describe(name: string): string {
  const group = /^prefix_(index|mask)_(\d+)$/.exec(name);
  if (group) return group[1] === 'index'
    ? `int32 [codes, C]: group ${group[2]} of the first-level codes (those with similar child counts), each row a code's prefixes' positions in the \`prefix_codes\` order, padded`
    : `float32 [codes, C]: 0 where \`prefix_index_${group[2]}\` holds a real prefix, −1e9 for padding`;
  const ctx = /^ctx_([kv])(\d+)$/.exec(name);
  if (ctx) return `float32 [users, heads, T, d/heads]: layer ${ctx[2]}'s history ${ctx[1] === 'k' ? 'keys' : 'values'} from the encode graph`;
  return TENSORS[name] ?? 'see src/models/generator.ts';
}

/** The export README: every graph's inputs and outputs as its ONNX file declares them. */
export async function graphsReadme(b: { manifest: BundleManifest; encode: Uint8Array; decode: Uint8Array[] }): Promise<string> {
  const members = b.manifest.files.members ?? [];
  const cfg = b.manifest.model.config;
  const { createSession } = await import('../../engine/index.js');
  const lines = [`# genrec model v${b.manifest.version} (${cfg.arch} generator, ${cfg.codeSizes.length} code levels: ${cfg.codeSizes.join(' × ')}, history length T = ${cfg.maxLen})`, ''];
  const files = [b.manifest.files.encode, ...b.manifest.files.decode];
  for (const [i, bytes] of [b.encode, ...b.decode].entries()) {
    const session = await createSession(bytes, { threads: 1 });
    try {
      lines.push(`## ${files[i]}`, '', i === 0 ? 'Once per request: the users\' histories in, the context out.' : `Decode step for code level ${i - 1}.`, '');
      for (const n of session.inputNames) lines.push(`- input \`${n}\`: ${describe(n)}`);
      for (const n of session.outputNames) lines.push(`- output \`${n}\`: ${describe(n)}`);
      lines.push('');
    } finally {
      await session.release();
    }
  }
  if (members.length) {
    lines.push(`## An ensemble of ${members.length + 1} generators`, '',
      `${members.map((m) => [m.encode, ...m.decode].map((f) => `\`${f}\``).join(', ')).join('; ')}: further members with the same inputs and outputs as the graphs above (same config and codes, other weights).`,
      'Run every member\'s encode graph once per request; at each decode step feed each member its own context (and, at the second level, its own first level\'s `user_*_scores`), average the members\' `logits` (or `child_logits`), and normalise that mean over the valid children as for one model.', '');
  }
  lines.push(`\`${b.manifest.files.items}\`: external item ids in index order. genrec builds the decode tables from the current catalogue in src/retrieval/generative.ts (\`GenerativeModel\`).`, '');
  return lines.join('\n');
}

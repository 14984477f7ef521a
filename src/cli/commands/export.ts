/**
 * `genrec export`: copies a bundle's inference graphs (standard ONNX, weights embedded) and its item →
 * semantic-ID table to a directory, with a README of the graphs' inputs and outputs, for use from any
 * ONNX Runtime (Python, C++, Java, the browser, CUDA).
 */
import type { Command } from 'commander';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { printResult } from '../output.js';
import { configOf, globalOptions } from '../program.js';
import { resolveBundle } from './eval.js';

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
      const files = [b.manifest.files.encode, ...b.manifest.files.decode, b.manifest.files.codes, b.manifest.files.items, 'manifest.json'];
      for (const f of files) copyFileSync(join(dir, f), join(out, f));
      const cfg = b.manifest.model.config;
      const ctx = cfg.arch === 'causal' ? '`ctx_h` [users, d]' : '`ctx_k<i>`, `ctx_v<i>` [users, heads, T, d/heads] per layer and `ctx_bias` [users, 1, 1, T]';
      writeFileSync(join(out, 'README.md'), [
        `# genrec model v${b.manifest.version} (${cfg.arch} generator, ${cfg.codeSizes.length} code levels: ${cfg.codeSizes.join(' × ')})`, '',
        `- \`${b.manifest.files.encode}\`: inputs \`items\` int32 [users, ${cfg.maxLen}] (item index + 1, left-padded with 0), \`mask\` float32 [users, ${cfg.maxLen}], \`item_tokens\` int32 [items + 1, ${cfg.codeSizes.length}] (from codes.safetensors: level l's code c is token offset_l + c, offsets start at 1); outputs ${ctx}.`,
        `- \`decode-<l>.onnx\`: the context tensors, \`row_user\` int32 [rows] (which user each beam row belongs to) and, for l > 0, \`prefix\` int32 [rows, l] (the flat tokens chosen so far); output \`logits\` float32 [rows, K_l] of level l's codes. Beam search normalises them (softmax) over the valid children of each prefix — the codes present in codes.safetensors — and keeps only valid prefixes.`,
        `- \`${b.manifest.files.items}\`: external item ids in index order.`, '',
      ].join('\n'));
      printResult({ bundle: dir, out, files: files.length + 1 }, json);
    });
}

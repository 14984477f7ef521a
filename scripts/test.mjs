#!/usr/bin/env node
// `npm test`'s runner: node's test runner over the compiled tests, with TMPDIR pointed at one fresh
// directory that is removed afterwards. Tests make data dirs, bundles and browser profiles with
// mkdtemp; without this each run left about 50 MB of them in /tmp. GENREC_KEEP_TEST_TMP=1 keeps it
// (its path goes to stderr) for looking at what a failing test wrote.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = mkdtempSync(join(tmpdir(), 'genrec-test-'));
const keep = process.env.GENREC_KEEP_TEST_TMP === '1';
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...process.argv.slice(2), 'dist/'], {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: root },
});
if (keep) process.stderr.write(`test temp dir kept: ${root}\n`);
else rmSync(root, { recursive: true, force: true });
if (run.error) throw run.error;
process.exit(run.status ?? 1);

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { suites, type BenchSuite } from '../../bench/index.js';
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, main } from './main.js';
import { sink } from './output.js';

// A fixture suite registered only inside this test process (the registry module is shared with the CLI).
const fixture: BenchSuite = {
  name: 'cli-test-fixture',
  description: 'echoes its options',
  options: [
    { flags: '--steps <n>', description: 'steps', default: '5' },
    { flags: '--fast', description: 'a boolean flag' },
  ],
  async run(opts) {
    return { steps: Number(opts.steps), fast: opts.fast === true, ratio: 2 / 3 };
  },
};
suites[fixture.name] = fixture;
after(() => {
  delete suites[fixture.name];
});

/** Runs the CLI in-process, capturing what it writes to stdout and stderr (its sink, not the process's streams, which the test reporter writes to). */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = { ...sink };
  sink.out = (text) => ((out += text), true);
  sink.err = (text) => ((err += text), true);
  try {
    const code = await main(['node', 'genrec', '--log-level', 'silent', ...args]);
    return { code, out, err };
  } finally {
    Object.assign(sink, write);
  }
}

test('bench --json prints exactly one JSON line, last, with the suite name first', async () => {
  const r = await run('bench', fixture.name, '--steps', '7', '--fast', '--json');
  assert.equal(r.code, EXIT_OK, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, 1);
  const parsed = JSON.parse(lines[0]!);
  assert.deepEqual(Object.keys(parsed)[0], 'suite');
  assert.deepEqual(parsed, { suite: fixture.name, steps: 7, fast: true, ratio: 2 / 3 });
});

test('bench without --json prints a table and applies option defaults', async () => {
  const r = await run('bench', fixture.name);
  assert.equal(r.code, EXIT_OK, r.err);
  assert.match(r.out, /^metric\s+value\n/);
  assert.match(r.out, /steps\s+5\n/);
  assert.match(r.out, /ratio\s+0\.6667\n/);
});

test('bench without a suite lists the suites', async () => {
  const r = await run('bench', '--json');
  assert.equal(r.code, EXIT_OK, r.err);
  const { suites: listed } = JSON.parse(r.out) as { suites: Array<{ name: string }> };
  assert.ok(listed.some((s) => s.name === fixture.name));
});

test('an unknown suite is a coded usage error listing the available suites', async () => {
  const r = await run('bench', 'nosuch');
  assert.equal(r.code, EXIT_USAGE);
  assert.equal(r.out, '');
  assert.match(r.err, /^GENREC_E_UNKNOWN_SUITE: .*"nosuch".*cli-test-fixture/);
  assert.match(r.err, /hint: /);
  assert.doesNotMatch(r.err, /\n\s+at /); // no stack trace
});

test('an unknown suite option is a coded usage error naming the suite options', async () => {
  const r = await run('bench', fixture.name, '--stepz', '3');
  assert.equal(r.code, EXIT_USAGE);
  assert.match(r.err, /^GENREC_E_USAGE: .*--stepz[\s\S]*--steps <n>, --fast/);
});

test('the suites check their numeric flags first: a bad value is a usage error naming the flag, before any work', async () => {
  for (const [suite, flag, value] of [['serve', '--items', 'abc'], ['serve', '--rate', '0'], ['serve', '--max-batch', '1.5'], ['tokenize', '--levels', '2.5'],
    ['engine', '--threads', '-1'], ['ingest', '--rows', 'x'], ['quality', '--seeds', '0'], ['quality', '--memory', 'sometimes'], ['quality', '--memory-rows', 'some'], ['quality', '--memory-span', '1.5'], ['quality', '--refit-valid', 'maybe'], ['quality', '--recency-weight', '1.5'], ['quality', '--recency-weight', '0']] as const) {
    const r = await run('bench', suite, flag, value, ...(suite === 'quality' ? ['--path', 'no-such-dir'] : []));
    assert.equal(r.code, EXIT_USAGE, `${suite} ${flag} ${value}: ${r.err}`);
    assert.match(r.err, new RegExp(`^GENREC_E_USAGE: ${flag} must be .*got '${value.replace('.', '\\.')}'`), suite);
  }
});

test('bench quality says when its test counts read the validation events (--refit-valid), and not otherwise', async (t) => {
  const { mkdtempSync, rmSync, writeFileSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'genrec-quality-refit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // 40 users over 30 items in the S3-Rec format: `user item item ...`.
  writeFileSync(join(dir, 'tiny.txt'), Array.from({ length: 40 }, (_, u) => `${u + 1} ${Array.from({ length: 6 }, (_, k) => 1 + ((u * 7 + k * 3) % 30)).join(' ')}`).join('\n') + '\n');
  for (const refit of [true, false]) {
    const runDir = join(dir, `run-${refit}`);
    const r = await run('bench', 'quality', '--path', dir, '--format', 's3rec', '--models', 'mostpop', '--seeds', '1', '--run-dir', runDir, ...(refit ? ['--refit-valid', 'true'] : []), '--json');
    assert.equal(r.code, EXIT_OK, r.err);
    const last = JSON.parse(r.out.trim().split('\n').pop()!);
    assert.equal(last.refit_valid, refit ? true : undefined);
    assert.ok(last.models.mostpop['recall@10'] >= 0);
    assert.equal(JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')).refit_valid, refit ? true : undefined);
    assert.equal(/outside the protocol/.test(readFileSync(join(runDir, 'quality.md'), 'utf8')), refit);
  }
});

test('commander usage errors become GENREC_E_USAGE with exit code 2', async () => {
  const r = await run('nosuchcommand');
  assert.equal(r.code, EXIT_USAGE);
  assert.match(r.err, /^GENREC_E_USAGE: unknown command 'nosuchcommand'/);
});

test('an invalid config is reported before the command runs', async () => {
  const r = await run('--log-level', 'loud', 'bench');
  assert.equal(r.code, EXIT_USAGE);
  assert.match(r.err, /^GENREC_E_CONFIG: .*log\.level.*--log-level/);
});

test('an unexpected exception is GENREC_E_INTERNAL with exit code 1 and no stack trace', async () => {
  suites.broken = { name: 'broken', description: 'throws', run: async () => { throw new TypeError('boom'); } };
  try {
    const r = await run('bench', 'broken');
    assert.equal(r.code, EXIT_INTERNAL);
    assert.match(r.err, /^GENREC_E_INTERNAL: boom\n {2}hint: .*GENREC_DEBUG=1/);
    assert.doesNotMatch(r.err, /\n\s+at /);
  } finally {
    delete suites.broken;
  }
});

test('--help prints to stdout and exits 0', async () => {
  const r = await run('--help');
  assert.equal(r.code, EXIT_OK);
  assert.match(r.out, /Usage: genrec/);
  assert.match(r.out, /bench/);
});

/**
 * `genrec train` as a user runs it (the binary in a child process) on tiny generated data: the config's
 * train.* settings are the defaults the flags override, a bundle comes out, bad flags are usage errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENREC_BIN } from '../../serve/spawn.js';
import { GenerativeModel } from '../../retrieval/generative.js';
import { TransitionTable } from '../../models/transitions.js';

const DATA = ['--synthetic', '--synthetic-users', '100', '--synthetic-items', '120', '--eval-users', '30', '--beam', '10'];

function train(dataDir: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [GENREC_BIN, '--data-dir', dataDir, '--log-level', 'warn', 'train', ...DATA, ...args], {
    env: { ...process.env, GENREC_PROGRESS: '0', GENREC_ENGINE_THREADS: '1', ...env }, encoding: 'utf8',
  });
}

test('genrec train takes epochs and batch size from the config (GENREC_TRAIN_*) when no flag is given, and writes a bundle', (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'genrec-train-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const r = train(dataDir, [], { GENREC_TRAIN_EPOCHS: '1', GENREC_TRAIN_BATCHSIZE: '16' });
  assert.equal(r.status, 0, r.stderr);
  const manifest = JSON.parse(readFileSync(join(dataDir, 'models', 'v1', 'manifest.json'), 'utf8'));
  assert.equal(manifest.train.epochs, 1);
  const curves = JSON.parse(readFileSync(join(manifest.train.runDir, 'curves.json'), 'utf8'));
  assert.equal(curves.epochs.length, 1);
  // ~2.5k training targets (engagements; about half the generated events are skips and dislikes): one packed
  // batch at the default 64 rows, two at 16 rows.
  assert.equal(curves.stepLoss.length, 2, 'train.batchSize from the environment');
  assert.equal(manifest.model.config.pairSoftmax, true, 'the generator default: one softmax over the prefixes');
  assert.ok(manifest.model.config.pairRows > 0, 'its compact prefix table');
  assert.ok(manifest.model.config.tripleRows > 0, 'its third-level table');
  assert.equal(manifest.model.config.relativeBuckets, manifest.train.maxLen >= 50 ? 32 : 0, 'the relative attention bias on long histories only');
  assert.ok(manifest.files.tokenizer, 'the bundle carries the tokenizer');
});

test('genrec train --members 2 writes one bundle holding both generators, which loads and recommends as one model', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'genrec-train-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const r = train(dataDir, ['--epochs', '1', '--members', '2']);
  assert.equal(r.status, 0, r.stderr);
  const dir = join(dataDir, 'models', 'v1');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.train.members, 2);
  assert.equal(manifest.files.members.length, 1, 'the second member beside the first');
  const gm = await GenerativeModel.load(dir, { threads: 1 });
  t.after(() => gm.close());
  assert.equal(gm.members, 2);
  const T = gm.maxLen, items = new Int32Array(T);
  items[T - 1] = 1;
  const rec = await gm.recommend({ users: 1, items }, { k: 5, beam: 10 });
  assert.ok(Array.from(rec.items).every((i) => i >= 0 && i < gm.items), 'real items');
});

test('a bundle\'s memory counts every transition of its data, and genrec eval scores the held-out parts with the training part\'s table', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'genrec-train-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const r = train(dataDir, ['--epochs', '1', '--memory', '1', '--json']); // β 1: the counts dominate, so a leak would show
  assert.equal(r.status, 0, r.stderr);
  const dir = join(dataDir, 'models', 'v1');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.memory.beta, 1);
  const printed = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.deepEqual([printed.memory_beta, printed.memory_reverse, printed.memory_rows, printed.memory_span],
    [1, manifest.memory.reverse, manifest.memory.shares ? 'shares' : 'counts', manifest.memory.span ?? 1], 'the result names the memory the bundle holds');
  const data = await import('../../data/index.js');
  const { commandDataset } = await import('./train.js');
  const ds = data.positiveOnly(await commandDataset({ synthetic: true, syntheticUsers: '100', syntheticItems: '120', seed: '42' }, dataDir));
  const inter = ds.interactions, split = data.leaveOneOut(inter);
  assert.equal(manifest.data.lastEventAt, inter.hasTimestamps ? Math.max(...inter.timestamps) : null);
  const whole = TransitionTable.fromSequences(inter.items, inter.userOffsets, inter.userOffsets.subarray(1), inter.numItems);
  assert.equal(manifest.memory.transitions, whole.size, 'the shipped table holds the held-out transitions too');
  // The same figures as `genrec eval`, computed here: both parts with the training part's table (the
  // protocol), the test also with the validation events' and with the bundle's own.
  const cliEval = (part: string) => {
    const ev = spawnSync(process.execPath, [GENREC_BIN, '--data-dir', dataDir, '--log-level', 'warn', '--json', 'eval', ...DATA.slice(0, 5), '--beam', '10', '--part', part], { env: { ...process.env, GENREC_PROGRESS: '0' }, encoding: 'utf8' });
    assert.equal(ev.status, 0, ev.stderr);
    return JSON.parse(ev.stdout.trim().split('\n').pop()!);
  };
  const gm = await GenerativeModel.load(dir, { threads: 1 });
  t.after(() => gm.close());
  const { evaluate, flatMetrics, generativeRanker } = await import('../../eval/index.js');
  const scored = async (part: 'valid' | 'test', ends: Int32Array | null) => {
    if (ends) gm.setMemory({ table: TransitionTable.fromSequences(inter.items, inter.userOffsets, ends, inter.numItems, gm.memoryOptions!.span ?? 1), options: gm.memoryOptions! });
    return flatMetrics(await evaluate(generativeRanker(gm, { beam: 10 }), split, part));
  };
  const leaky = await scored('test', null);
  const refit = await scored('test', split.validEnd), honest = await scored('test', split.trainEnd);
  const cli = cliEval('test');
  assert.ok(Math.abs(cli['ndcg@10'] - honest['ndcg@10']!) < 1e-6, `eval ${cli['ndcg@10']} against the training part's ${honest['ndcg@10']}`);
  assert.notDeepEqual(refit, honest, 'the validation events would change the test\'s memory');
  assert.ok(leaky['recall@10']! > honest['recall@10']!, `the shipped table would leak the test targets (${leaky['recall@10']} against ${honest['recall@10']})`);
  const valid = await scored('valid', split.trainEnd);
  assert.ok(Math.abs(cliEval('valid')['ndcg@10'] - valid['ndcg@10']!) < 1e-6, 'validation reads the training part\'s table');
});

for (const [flag, value] of [['--members', '0'], ['--lr', 'fast'], ['--windows', 'some'], ['--pair-softmax', 'yes'], ['--triple-vectors', 'maybe'], ['--triple-input', 'maybe'], ['--relative-buckets', '-1'], ['--block', 'mamba'], ['--memory', 'sometimes'], ['--memory-rows', 'some'], ['--memory-span', '0'], ['--recency-weight', '2']] as const) {
  test(`genrec train: a bad ${flag} is a usage error (exit 2) that names the flag`, (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'genrec-train-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const r = train(dataDir, ['--epochs', '1', flag, value]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /GENREC_E_USAGE/);
    assert.match(r.stderr, new RegExp(flag));
  });
}

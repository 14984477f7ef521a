import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenrecError } from '../engine/errors.js';
import { DEFAULT_CONFIG_FILE, loadConfig } from './config.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'genrec-config-'));
}

function writeJson(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

/** Runs `fn`, expecting a GENREC_E_CONFIG error, and returns it. */
function configError(fn: () => unknown): GenrecError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof GenrecError, `expected GenrecError, got ${String(e)}`);
    assert.equal(e.code, 'GENREC_E_CONFIG');
    return e;
  }
  assert.fail('expected loadConfig to throw');
}

test('defaults apply when there is no file, env or flag', () => {
  const config = loadConfig({ cwd: tempDir(), env: {} });
  assert.equal(config.dataDir, '.genrec');
  assert.equal(config.log.level, 'info');
  assert.deepEqual(config.engine, { threads: 0, graphOptimizationLevel: 'all', executionProvider: 'cpu' });
  assert.equal(config.data.path, undefined);
  assert.equal(config.data.maxHistory, 200);
  assert.equal(config.train.seed, 42);
  assert.equal(config.serve.port, 3000);
  assert.equal(config.serve.apiKey, undefined);
});

test('values from genrec.config.json in cwd are merged over the defaults', () => {
  const dir = tempDir();
  writeJson(dir, DEFAULT_CONFIG_FILE, { serve: { port: 9000 }, train: { epochs: 3, lr: 0.01 } });
  const config = loadConfig({ cwd: dir, env: {} });
  assert.equal(config.serve.port, 9000);
  assert.equal(config.serve.host, '127.0.0.1'); // sibling default kept
  assert.equal(config.train.epochs, 3);
  assert.equal(config.train.lr, 0.01);
  assert.equal(config.train.batchSize, 64);
});

test('an explicit --config path is used, and must exist', () => {
  const dir = tempDir();
  const file = writeJson(dir, 'other.json', { engine: { executionProvider: 'cuda' } });
  assert.equal(loadConfig({ cwd: tempDir(), config: file, env: {} }).engine.executionProvider, 'cuda');
  const err = configError(() => loadConfig({ cwd: dir, config: 'missing.json', env: {} }));
  assert.match(err.message, /not found: .*missing\.json/);
});

test('environment overrides beat the file and are coerced to the schema type', () => {
  const dir = tempDir();
  writeJson(dir, DEFAULT_CONFIG_FILE, { serve: { port: 9000 }, engine: { threads: 4 } });
  const config = loadConfig({
    cwd: dir,
    env: {
      GENREC_SERVE_PORT: '8080',
      GENREC_ENGINE_THREADS: '2',
      GENREC_ENGINE_EXECUTIONPROVIDER: 'cuda',
      GENREC_DATADIR: '/var/genrec',
      GENREC_SERVE_APIKEY: 'secret',
      GENREC_DEBUG: '1', // not a config field: ignored
    },
  });
  assert.equal(config.serve.port, 8080);
  assert.equal(config.engine.threads, 2);
  assert.equal(config.engine.executionProvider, 'cuda');
  assert.equal(config.dataDir, '/var/genrec');
  assert.equal(config.serve.apiKey, 'secret');
});

test('CLI flags beat environment and file', () => {
  const dir = tempDir();
  writeJson(dir, DEFAULT_CONFIG_FILE, { dataDir: 'from-file', log: { level: 'warn' } });
  const config = loadConfig({ cwd: dir, env: { GENREC_DATADIR: 'from-env' }, dataDir: 'from-flag', logLevel: 'debug' });
  assert.equal(config.dataDir, 'from-flag');
  assert.equal(config.log.level, 'debug');
});

test('a bad field in the file is reported with the file, the field path and what was expected', () => {
  const dir = tempDir();
  const file = writeJson(dir, DEFAULT_CONFIG_FILE, { serve: { port: 'eighty' } });
  const err = configError(() => loadConfig({ cwd: dir, env: {} }));
  assert.ok(err.message.includes(file), err.message);
  assert.match(err.message, /serve\.port: .*expected number/);
  assert.deepEqual((err.details.issues as Array<{ path: string }>).map((i) => i.path), ['serve.port']);
});

test('a bad environment value names the variable', () => {
  const err = configError(() => loadConfig({ cwd: tempDir(), env: { GENREC_ENGINE_THREADS: 'many' } }));
  assert.match(err.message, /engine\.threads: .*expected number.*GENREC_ENGINE_THREADS/);
  const err2 = configError(() => loadConfig({ cwd: tempDir(), env: { GENREC_ENGINE_EXECUTIONPROVIDER: 'tpu' } }));
  assert.match(err2.message, /engine\.executionProvider: .*"cpu"\|"cuda"/);
});

test('a misspelt key is reported at its path with the allowed keys', () => {
  const dir = tempDir();
  writeJson(dir, DEFAULT_CONFIG_FILE, { engine: { thread: 2 } });
  const err = configError(() => loadConfig({ cwd: dir, env: {} }));
  assert.match(err.message, /engine\.thread: unknown field; expected one of: threads, graphOptimizationLevel, executionProvider/);
});

test('a file that is not a JSON object is rejected with the file named', () => {
  const dir = tempDir();
  const file = writeJson(dir, DEFAULT_CONFIG_FILE, '{ "serve": ');
  assert.ok(configError(() => loadConfig({ cwd: dir, env: {} })).message.includes(file));
  writeJson(dir, DEFAULT_CONFIG_FILE, '[1, 2]');
  assert.match(configError(() => loadConfig({ cwd: dir, env: {} })).message, /must contain a JSON object/);
});

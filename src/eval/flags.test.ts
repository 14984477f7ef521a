import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GenrecError } from '../engine/errors.js';
import { blockOption, boolOption, memoryOption, modelNumberOption, numberOption, positiveOption, windowsOption } from './flags.js';
import { sasrecConfig, type QualityContext } from './models.js';
import { genrecOptionsFrom } from './genrec.js';

const usage = (flag: string) => (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_USAGE' && e.message.includes(flag);

test('bench quality model flags: values parse, absent ones stay undefined, bad ones are usage errors naming the flag', () => {
  assert.equal(numberOption('dModel', '96'), 96);
  assert.equal(numberOption('dropout', 0.1), 0.1);
  assert.equal(numberOption('patience', undefined), undefined);
  assert.equal(numberOption('patience', ''), undefined);
  assert.throws(() => numberOption('dModel', 'wide'), usage('--d-model'));
  assert.throws(() => numberOption('evalEvery', 'Infinity'), usage('--eval-every'));
  assert.equal(positiveOption('lr', '0.001'), 0.001);
  assert.equal(positiveOption('lr', undefined), undefined);
  assert.throws(() => positiveOption('pairTemperature', '0'), usage('--pair-temperature'));
  assert.throws(() => positiveOption('dModel', '-64'), usage('--d-model'));
  assert.equal(modelNumberOption('weightDecay', '0'), 0, 'a rate that may be 0');
  assert.throws(() => modelNumberOption('batchSize', '0'), usage('--batch-size'));
  assert.throws(() => modelNumberOption('layers', '2.5'), usage('--layers'), 'a count must be whole');
  assert.equal(modelNumberOption('gapBuckets', '0'), 0, 'a count that may be 0 (off)');
  assert.equal(modelNumberOption('dropout', '0.25'), 0.25, 'a rate may be a fraction');
  assert.equal(boolOption('pair-softmax', undefined), undefined);
  assert.equal(boolOption('pair-softmax', 'true'), true);
  assert.equal(boolOption('pair-softmax', 'false'), false);
  assert.throws(() => boolOption('pair-softmax', 'yes'), usage('--pair-softmax'));
  assert.equal(windowsOption('all'), 'all');
  assert.throws(() => windowsOption('some'), usage('--windows'));
  assert.equal(blockOption('hstu'), 'hstu');
  assert.throws(() => blockOption('mamba'), usage('--block'));
  assert.equal(memoryOption('auto'), 'auto');
  assert.equal(memoryOption('off'), 'off');
  assert.equal(memoryOption('100'), 100);
  for (const bad of ['0', '-3', 'sometimes', '', true]) assert.throws(() => memoryOption(bad), usage('--memory'), String(bad));
  assert.equal(genrecOptionsFrom({ memory: '30' }).memory, 30);
  assert.equal(genrecOptionsFrom({}).memory, undefined);
});

test('bench quality genrec flags: each boolean flag sets its config field, false included', () => {
  const { model } = genrecOptionsFrom({ itemId: 'false', pairInput: 'true', tripleInput: 'true', pairSoftmax: 'false', tripleVectors: true, dropout: '0.1' });
  assert.deepEqual(model, { itemIdEmbedding: false, pairInput: true, tripleInput: true, pairSoftmax: false, tripleVectors: true, dropout: 0.1 });
  assert.deepEqual(genrecOptionsFrom({}).model, {}, 'absent flags leave the defaults alone');
  assert.throws(() => genrecOptionsFrom({ tripleInput: 'maybe' }), usage('--triple-input'));
  assert.throws(() => genrecOptionsFrom({ pairTemperature: '-0.05' }), usage('--pair-temperature'));
  assert.throws(() => genrecOptionsFrom({ dModel: '0' }), usage('--d-model'));
  assert.equal(genrecOptionsFrom({ dropout: '0', weightDecay: '0' }).model.dropout, 0, 'rates that may be 0 still can');
  assert.equal(genrecOptionsFrom({ members: '3' }).members, 3);
  assert.throws(() => genrecOptionsFrom({ members: '0' }), usage('--members'));
  assert.throws(() => genrecOptionsFrom({ members: '1.5' }), usage('--members'));
});

test('bench quality sasrec flags: sizes and rates must be > 0, a usage error naming the flag', () => {
  const ctx = (options: Record<string, unknown>) => ({ split: { interactions: { numItems: 10 } }, maxLen: 20, options }) as unknown as QualityContext;
  assert.equal(sasrecConfig(ctx({ dModel: '32', dropout: '0' })).dModel, 32);
  assert.throws(() => sasrecConfig(ctx({ dModel: '0' })), usage('--d-model'));
  assert.throws(() => sasrecConfig(ctx({ lr: '-0.001' })), usage('--lr'));
});

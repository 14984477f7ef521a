import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GenrecError } from '../engine/errors.js';
import { intFlag, positiveFlag, probabilityFlag } from './flags.js';

const usage = (flag: string) => (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_USAGE' && e.message.includes(`--${flag}`);

test('flag values are checked and bad ones are coded usage errors naming the flag', () => {
  assert.equal(intFlag('epochs', '30'), 30);
  assert.throws(() => intFlag('epochs', '2.5'), usage('epochs'));
  assert.equal(positiveFlag('lr', '0.002', 0.002), 0.002);
  assert.throws(() => positiveFlag('lr', '0', 0.002), usage('lr'));
  assert.equal(probabilityFlag('dropout', '0', 0.1), 0);
  assert.equal(probabilityFlag('dropout', '0.1', 0.1), 0.1);
  for (const bad of ['1', '-0.1', 'abc', '']) assert.throws(() => probabilityFlag('dropout', bad, 0.1), usage('dropout'));
});

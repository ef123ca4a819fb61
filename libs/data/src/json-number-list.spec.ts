import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import { indexSampleStarts, parseNumbers } from './json-number-list';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

describe('indexSampleStarts', () => {
  it('finds where each group starts and where the array ends', () => {
    const text = '{ "data": [0,0.5,1, 0.25,0.125,0] }';
    const starts = indexSampleStarts(bytes(text), 'data', 3, 'x.json');
    assert.equal(starts.length, 3);
    assert.equal(text.slice(starts[0], starts[1]), '0,0.5,1,');
    assert.equal(text.slice(starts[1], starts[2]), ' 0.25,0.125,0');
  });

  it('rejects a count that is not a whole number of samples, naming the file', () => {
    assert.throws(
      () => indexSampleStarts(bytes('{"data":[1,2,3,4]}'), 'data', 3, 'bad.json'),
      (e: unknown) => e instanceof UserError && e.field === 'bad.json',
    );
    assert.throws(() => indexSampleStarts(bytes('{"other":[1]}'), 'data', 1, 'bad.json'), UserError);
  });
});

describe('parseNumbers', () => {
  it('matches JSON.parse exactly, on the fast path and the fallback', () => {
    const values = ['0', '1', '0.624', '.5', '0.1', '0.30000000000000004', '1.5', '-0.25', '1e-3', '255', '0.996'];
    const out = new Float32Array(values.length + 1);
    parseNumbers(bytes(` ${values.join(',\n')}]`), values.length, out, 1, 'x');
    const expected = Float32Array.from(values.map((v) => (v.startsWith('.') ? Number(v) : (JSON.parse(v) as number))));
    assert.deepEqual(out.subarray(1), expected);
  });

  it('reports missing or malformed numbers as UserError', () => {
    const out = new Float32Array(3);
    assert.throws(() => parseNumbers(bytes('1,2'), 3, out, 0, 'f'), /expected 3 numbers, found 2/);
    assert.throws(() => parseNumbers(bytes('1,abc,2'), 3, out, 0, 'f'), UserError);
  });
});

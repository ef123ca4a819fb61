import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checksum32 } from './checksum';
import { toHalfBits } from './half';
import { decodeInto, decodeValue, encodedBytes, encodeValue, inspectValue } from './value-codec';

const key = { fingerprintId: 3, sampleId: 17 };

const values = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 10 ** ((i % 7) - 3));

describe('checksum32', () => {
  it('changes for every single-bit flip', () => {
    const words = new Uint32Array(values.buffer);
    const base = checksum32(words);
    for (let w = 0; w < words.length; w++) {
      for (let bit = 0; bit < 32; bit++) {
        const copy = words.slice();
        copy[w] = (copy[w] as number) ^ (1 << bit);
        assert.notEqual(checksum32(copy), base);
      }
    }
  });
});

describe('half floats', () => {
  it('rounds to nearest even and handles the edges', () => {
    assert.equal(toHalfBits(1), 0x3c00);
    assert.equal(toHalfBits(-2), 0xc000);
    assert.equal(toHalfBits(65504), 0x7bff);
    assert.equal(toHalfBits(65520), 0x7c00); // rounds to infinity
    assert.equal(toHalfBits(Number.POSITIVE_INFINITY), 0x7c00);
    assert.equal(toHalfBits(Number.NaN) & 0x7e00, 0x7e00);
    assert.equal(toHalfBits(2 ** -24), 0x0001); // smallest subnormal
    assert.equal(toHalfBits(2 ** -26), 0x0000);
    assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00); // tie -> even
    assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02); // tie -> even (up)
    assert.equal(toHalfBits(-0), 0x8000);
  });
});

describe('value codec', () => {
  it('stores float32 exactly', () => {
    const bytes = encodeValue(values, 'float32', key);
    assert.equal(bytes.length, encodedBytes('float32', values.length));
    const out = new Float32Array(values.length + 5);
    assert.ok(decodeValue(bytes, out, 5, values.length, key));
    assert.deepEqual(out.subarray(5), values);
  });

  it('stores float16 in half the payload within half precision', () => {
    const bytes = encodeValue(values, 'float16', key);
    assert.equal(bytes.length, 8 + values.length * 2);
    const out = new Float32Array(values.length);
    assert.ok(decodeValue(bytes, out, 0, values.length, key));
    values.forEach((v, i) => {
      const tol = Math.max(Math.abs(v) * 2 ** -11, 2 ** -24);
      assert.ok(Math.abs((out[i] as number) - v) <= tol, `${v} -> ${out[i]}`);
    });
  });

  it('reports any flipped byte, a wrong length or an unknown version as corrupt', () => {
    for (const codec of ['float32', 'float16'] as const) {
      const good = encodeValue(values, codec, key);
      const out = new Float32Array(values.length);
      for (let i = 1; i < good.length; i += 3) {
        const bad = good.slice();
        bad[i] = (bad[i] as number) ^ 0x10;
        assert.equal(decodeValue(bad, out, 0, values.length, key), false, `${codec} byte ${i}`);
        // the 16-bit payload check (bytes 2-3) alone: only payload bytes and itself are covered
        if (i < 4 || i >= 8) assert.equal(decodeValue(bad, out, 0, values.length), false, `${codec} byte ${i}, no key`);
      }
      assert.equal(decodeValue(good.subarray(0, good.length - 4), out, 0, values.length, key), false);
      assert.equal(decodeValue(good, out, 0, values.length + 1, key), false);
      const v9 = good.slice();
      v9[0] = 9;
      assert.equal(decodeInto(v9, out, 0, values.length, key), 'corrupt');
    }
  });

  it('binds a value to its key: the same bytes under another sample or fingerprint fail', () => {
    for (const codec of ['float32', 'float16'] as const) {
      const good = encodeValue(values, codec, key);
      const out = new Float32Array(values.length);
      assert.equal(decodeInto(good, out, 0, values.length, key), 'ok');
      for (const other of [
        { fingerprintId: 3, sampleId: 18 },
        { fingerprintId: 3, sampleId: 17 + 2 ** 16 },
        { fingerprintId: 4, sampleId: 17 },
        { fingerprintId: 17, sampleId: 3 },
      ]) {
        assert.equal(decodeInto(good, out, 0, values.length, other), 'corrupt', `${codec} under ${JSON.stringify(other)}`);
        assert.match(inspectValue(good, values.length, other).problem ?? '', /written under another key/);
      }
      assert.equal(decodeInto(good, out, 0, values.length), 'ok', 'without a key: the payload check alone');
    }
  });

  it('reads values of format version 1 as outdated, not corrupt', () => {
    const v1 = encodeValue(values, 'float32', key);
    v1[0] = 1;
    assert.equal(decodeInto(v1, new Float32Array(values.length), 0, values.length, key), 'outdated');
    const check = inspectValue(v1, values.length, key);
    assert.equal(check.outdated, true);
    assert.match(check.problem ?? '', /format version 1, recomputed/);
  });
});

describe('inspectValue', () => {
  it('says what is wrong and still decodes a value whose only fault is its checksum', () => {
    for (const codec of ['float32', 'float16'] as const) {
      const v = encodeValue(Float32Array.from([1, -2, 0.5]), codec, key);
      assert.deepEqual(inspectValue(v, 3), { codec, ok: true, values: Float32Array.from([1, -2, 0.5]) });
      const flipped = v.slice();
      flipped[9] = (flipped[9] as number) ^ 0x80;
      const r = inspectValue(flipped, 3);
      assert.equal(r.ok, false);
      assert.equal(r.problem, 'checksum mismatch');
      assert.equal(r.values?.length, 3);
      assert.match(inspectValue(v, 4).problem ?? '', /expected/);
    }
    assert.match(inspectValue(new Uint8Array(3), 1).problem ?? '', /shorter than the header/);
    assert.match(inspectValue(Uint8Array.from([9, 0, 0, 0, 0, 0, 0, 0]), 0).problem ?? '', /format version 9/);
    assert.match(inspectValue(Uint8Array.from([2, 7, 0, 0, 0, 0, 0, 0]), 0).problem ?? '', /unknown codec 7/);
  });
});

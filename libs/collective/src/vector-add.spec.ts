import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addInto } from './vector-add';

/** deterministic values over many magnitudes, both signs, zeros and infinities */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = ((x / 2147483648 - 0.5) * 2 ** ((x % 60) - 30)) as number;
  }
  if (n > 3) out.set([0, -0, Number.POSITIVE_INFINITY], n - 3);
  return out;
}

describe('addInto', () => {
  for (const n of [0, 1, 3, 4, 5, 8191, 8192, 8193, 40_003]) {
    it(`adds ${n} elements exactly as single-precision addition does`, () => {
      const dst = values(n + 2, 7);
      const src = values(n, 11);
      const want = Float32Array.from(dst, (v, i) => (i < n ? Math.fround(v + (src[i] as number)) : v));
      addInto(dst, src);
      assert.deepEqual(dst, want);
    });
  }

  it('works on views at any offset', () => {
    const base = values(1000, 3);
    const want = base.slice();
    const src = values(301, 5);
    for (let i = 0; i < 301; i++) want[17 + i] = Math.fround((want[17 + i] as number) + (src[i] as number));
    addInto(base.subarray(17), new Float32Array(src.buffer.slice(0), 0, 301));
    assert.deepEqual(base, want);
  });
});

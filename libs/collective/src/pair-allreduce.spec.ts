import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHub } from './memory-transport';
import { pairAllreduce } from './pair-allreduce';
import { ringAllreduce } from './ring-allreduce';
import { CollectiveError } from './transport';

/** values of many magnitudes, so that the order of additions would show in the bits */
function inputs(len: number, salt: number): Float32Array[] {
  return [0, 1].map((r) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 7 + r * 13 + salt) * 10 ** ((i % 9) - 4)));
}

describe('pair allreduce', () => {
  for (const [len, chunk] of [
    [0, 4],
    [1, 4],
    [10, 3],
    [1000, 64],
    [100_003, 4096],
  ] as const) {
    it(`sums ${len} elements in chunks of ${chunk}, bit for bit as the ring does`, async () => {
      const pair = inputs(len, len);
      const ring = inputs(len, len);
      const [a, b] = new MemoryHub().transports(2);
      const [c, d] = new MemoryHub().transports(2);
      const opts = { sequence: 1, signature: 'sig', chunkElements: chunk };
      await Promise.all([
        pairAllreduce(pair[0] as Float32Array, a as never, opts),
        pairAllreduce(pair[1] as Float32Array, b as never, opts),
      ]);
      await Promise.all([
        ringAllreduce(ring[0] as Float32Array, c as never, opts),
        ringAllreduce(ring[1] as Float32Array, d as never, opts),
      ]);
      assert.deepEqual(pair[0], pair[1]);
      assert.deepEqual(pair[0], ring[0]);
    });
  }

  it('fails clearly on another tensor set, and refuses a world that is not a pair', async () => {
    const results = await Promise.allSettled(
      new MemoryHub()
        .transports(2)
        .map((t, r) => pairAllreduce(new Float32Array(8 + r), t, { sequence: 1, signature: 'sig', timeoutMs: 500 })),
    );
    assert.ok(results.every((r) => r.status === 'rejected' && /different tensor set/.test(String(r.reason))));
    const [three] = new MemoryHub().transports(3);
    if (!three) throw new Error('no transport');
    await assert.rejects(pairAllreduce(new Float32Array(4), three, { sequence: 1, signature: 's' }), CollectiveError);
  });
});

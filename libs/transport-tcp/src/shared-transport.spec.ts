import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ringAllreduce } from '@permafrost/collective';
import { inputs } from '@permafrost/collective/testing';
import type { TcpTransport } from './tcp-transport';
import { nativeOrSkip, ring } from './test-ring';

/** sums of `inputs` (small integers: exact in float32) */
function expected(xs: Float32Array[]): Float32Array {
  const out = new Float32Array((xs[0] as Float32Array).length);
  for (const x of xs) for (let i = 0; i < x.length; i++) out[i] = (out[i] as number) + (x[i] as number);
  return out;
}

/** `collectives` ring allreduces of `len` elements on n ranks, checked; each rank's chunk counts */
async function reduce(n: number, len: number, chunkElements: number, opts: Parameters<typeof ring>[2], collectives = 3) {
  const tcp = await ring(n, [], opts);
  try {
    for (let s = 1; s <= collectives; s++) {
      const xs = inputs(n, len, s);
      const out = xs.map((x) => x.slice());
      await Promise.all(
        tcp.transports.map((t, r) =>
          ringAllreduce(out[r] as Float32Array, t, { sequence: s, signature: 'sig', chunkElements, timeoutMs: 10_000 }),
        ),
      );
      const want = expected(xs);
      for (const o of out) assert.deepEqual(o, want);
    }
    return tcp.transports.map((t) => ({ ...(t as TcpTransport).stats }));
  } finally {
    await tcp.close();
  }
}

describe('tcp data plane between ranks of one host', () => {
  it('sends every chunk through shared memory and only heads over TCP', async (t) => {
    if (!nativeOrSkip(t)) return;
    for (const s of await reduce(3, 100_003, 4096, {})) {
      assert.equal(s.wireChunks, 0);
      // 3 collectives of 2(n-1) steps, each of ceil(33_335 / 4096) chunks
      assert.equal(s.sharedChunks, 3 * 4 * 9);
    }
  });

  it('waits for credits when the segment is full, and keeps the order (a segment of 4 chunks)', async (t) => {
    if (!nativeOrSkip(t)) return;
    for (const s of await reduce(2, 1_000_000, 4096, { sharedMemoryBytes: 4 * 4096 * 4 }, 2)) {
      assert.equal(s.wireChunks, 0);
      assert.equal(s.sharedChunks, 2 * 2 * Math.ceil(500_000 / 4096));
    }
  });

  it('sends a chunk larger than the segment over TCP, in order with the others', async (t) => {
    if (!nativeOrSkip(t)) return;
    // 2 ranks, segments of 100_001 elements: chunks of 40_000, 40_000 and 20_001; the segment holds 32_000
    for (const s of await reduce(2, 200_002, 40_000, { sharedMemoryBytes: 32_000 * 4 }, 2)) {
      assert.equal(s.wireChunks, 2 * 2 * 2);
      assert.equal(s.sharedChunks, 2 * 2 * 1);
    }
  });

  it('sends values over TCP when shared memory is off at the sender or at the receiver', async (t) => {
    for (const s of await reduce(3, 10_007, 1000, { sharedMemoryBytes: 0 })) assert.equal(s.sharedChunks, 0);
    if (!nativeOrSkip(t)) return;
    // rank 0 sends to rank 1, which declines its offer; rank 1 offers nothing; rank 2 sends to rank 0, which maps
    const stats = await reduce(3, 10_007, 1000, [{}, { sharedMemoryBytes: 0 }, {}]);
    assert.deepEqual(
      stats.map((s) => [s.sharedChunks > 0, s.wireChunks > 0]),
      [
        [false, true],
        [false, true],
        [true, false],
      ],
    );
  });
});

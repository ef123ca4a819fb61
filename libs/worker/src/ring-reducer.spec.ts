import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHub } from '@permafrost/collective';
import { RingReducer } from './ring-reducer';

describe('RingReducer', () => {
  it('numbers its collectives identically on every rank, so consecutive reductions never mix', async () => {
    const reducers = new MemoryHub().transports(3).map((t) => new RingReducer(t, 2000, 4));
    for (let round = 1; round <= 4; round++) {
      const buffers = reducers.map((_, r) => Float32Array.from({ length: 10 + round }, (_, i) => r * 100 + i * round));
      await Promise.all(reducers.map((red, r) => red.allreduce(buffers[r] as Float32Array, 'grads')));
      const want = Float32Array.from({ length: 10 + round }, (_, i) => 300 + 3 * i * round);
      for (const b of buffers) assert.deepEqual(b, want);
    }
  });

  it('sums a pair of ranks, small buffers by one exchange and large ones by the ring, to the same result', async () => {
    const reducers = new MemoryHub().transports(2).map((t) => new RingReducer(t, 2000));
    for (const length of [5, 1024 * 1024 + 3]) {
      const buffers = reducers.map((_, r) => Float32Array.from({ length }, (_, i) => (r + 1) * (i % 1000)));
      await Promise.all(reducers.map((red, r) => red.allreduce(buffers[r] as Float32Array, 'grads')));
      assert.deepEqual(
        buffers[0],
        Float32Array.from({ length }, (_, i) => 3 * (i % 1000)),
      );
      assert.deepEqual(buffers[1], buffers[0]);
    }
  });

  it('refuses to reduce with a rank that offers another tensor set', async () => {
    const reducers = new MemoryHub().transports(2).map((t) => new RingReducer(t, 500));
    const results = await Promise.allSettled(reducers.map((red, r) => red.allreduce(new Float32Array(8), r === 0 ? 'grads-a' : 'grads-b')));
    assert.ok(results.some((x) => x.status === 'rejected' && /different tensor set/.test(String(x.reason))));
  });

  it('fails on every survivor within its timeout when a peer never joins the collective', async () => {
    const reducers = new MemoryHub().transports(3).map((t) => new RingReducer(t, 300));
    const t0 = Date.now();
    // rank 2 is gone: ranks 0 and 1 start the collective alone
    const results = await Promise.allSettled(reducers.slice(0, 2).map((red) => red.allreduce(new Float32Array(12), 'grads')));
    assert.ok(results.every((x) => x.status === 'rejected'));
    assert.ok(Date.now() - t0 < 2000, `failed after ${Date.now() - t0} ms`);
  });

  it('halt fails the collective in flight at once, and every later one', async () => {
    const [a] = new MemoryHub().transports(2).map((t) => new RingReducer(t, 60_000));
    const red = a as RingReducer;
    const inFlight = red.allreduce(new Float32Array(8), 'grads');
    const t0 = Date.now();
    red.halt('the coordinator forms generation 2');
    await assert.rejects(inFlight, /halted: the coordinator forms generation 2/);
    assert.ok(Date.now() - t0 < 1000);
    await assert.rejects(red.allreduce(new Float32Array(8), 'grads'), /halted/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHub } from './memory-transport';
import { ringAllreduce, segments } from './ring-allreduce';
import { CollectiveError } from './transport';

function inputs(n: number, len: number): Float32Array[] {
  return Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => ((r + 1) * (i + 3)) % 17));
}

function expected(xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs[0]?.length ?? 0);
  for (const x of xs) for (const [i, v] of x.entries()) out[i] = (out[i] as number) + v;
  return out;
}

describe('segments', () => {
  it('cover the buffer in n nearly equal parts', () => {
    assert.deepEqual(segments(10, 3), [
      { start: 0, length: 4 },
      { start: 4, length: 3 },
      { start: 7, length: 3 },
    ]);
    assert.deepEqual(
      segments(2, 3).map((s) => s.length),
      [1, 1, 0],
    );
  });
});

describe('ring allreduce', () => {
  for (const [n, len, chunk] of [
    [2, 10, 3],
    [3, 1000, 64],
    [4, 7, 2],
    [5, 3, 1],
    [3, 100_003, 4096],
    [1, 5, 2],
  ] as const) {
    it(`sums ${len} elements over ${n} ranks in chunks of ${chunk}`, async () => {
      const xs = inputs(n, len);
      const want = expected(xs);
      const ts = new MemoryHub().transports(n);
      await Promise.all(ts.map((t, r) => ringAllreduce(xs[r] as Float32Array, t, { sequence: 1, signature: 'sig', chunkElements: chunk })));
      for (const x of xs) assert.deepEqual(x, want);
    });
  }

  it('runs consecutive collectives without mixing them up', async () => {
    const ts = new MemoryHub().transports(3);
    for (let seq = 1; seq <= 3; seq++) {
      const xs = inputs(3, 50 + seq);
      const want = expected(xs);
      await Promise.all(ts.map((t, r) => ringAllreduce(xs[r] as Float32Array, t, { sequence: seq, signature: 's', chunkElements: 8 })));
      for (const x of xs) assert.deepEqual(x, want);
    }
  });

  it('fails clearly when a rank offers a different tensor set', async () => {
    const ts = new MemoryHub().transports(3);
    const xs = inputs(3, 30);
    const results = await Promise.allSettled(
      ts.map((t, r) => ringAllreduce(xs[r] as Float32Array, t, { sequence: 1, signature: r === 1 ? 'other' : 'sig', timeoutMs: 500 })),
    );
    const errors = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as Error);
    assert.ok(errors.length >= 1);
    assert.ok(errors.some((e) => e instanceof CollectiveError && /different tensor set/.test(e.message)));
    const xs2 = inputs(3, 30);
    const size = await Promise.allSettled(
      new MemoryHub()
        .transports(3)
        .map((t, r) =>
          ringAllreduce(r === 2 ? new Float32Array(31) : (xs2[r] as Float32Array), t, { sequence: 1, signature: 'sig', timeoutMs: 500 }),
        ),
    );
    assert.ok(size.some((r) => r.status === 'rejected' && /different tensor set/.test(String(r.reason))));
  });

  it('times out instead of hanging when a rank never takes part', async () => {
    const ts = new MemoryHub().transports(3);
    const xs = inputs(3, 30);
    const t0 = Date.now();
    const r = await Promise.allSettled(
      [0, 1].map((i) => ringAllreduce(xs[i] as Float32Array, ts[i] as never, { sequence: 1, signature: 's', timeoutMs: 300 })),
    );
    assert.ok(r.every((x) => x.status === 'rejected' && /timed out/.test(String(x.reason))));
    assert.ok(Date.now() - t0 < 3000);
  });
});

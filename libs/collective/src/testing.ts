/**
 * Test support for network transports (`@permafrost/collective/testing`, never imported by
 * production code): the behaviour every Transport owes the algorithms, as one node:test suite
 * each transport's spec runs over its own servers on loopback, and the helpers those specs share.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHub } from './memory-transport';
import { pairAllreduce } from './pair-allreduce';
import { type AllreduceOptions, ringAllreduce } from './ring-allreduce';
import { type Chunk, CollectiveError, type Transport } from './transport';

/** n ranks of a transport under test */
export interface TestRing {
  transports: Transport[];
  /** shuts rank r's server down, as a worker that goes away */
  stop(r: number): Promise<void>;
  /** shuts down whatever is still open */
  close(): Promise<void>;
}

/** n inputs of `len` small integers (exact float32 sums whatever the order) */
export function inputs(n: number, len: number, salt = 0): Float32Array[] {
  return Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => ((r + 1) * (i + 3) + salt) % 23));
}

export const chunk = (sequence: number, values: number[], step = 0): Chunk => ({
  sequence,
  signature: 'sig',
  step,
  segment: 0,
  offset: 0,
  totalElements: 100,
  data: Float32Array.from(values),
});

/** values of mixed magnitudes, whose float32 sums depend on the order of addition */
function noisy(n: number, len: number, seed: number): Float32Array[] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) * 10 ** ((s % 7) - 3);
  };
  return Array.from({ length: n }, () => Float32Array.from({ length: len }, next));
}

type Allreduce = (buffer: Float32Array, t: Transport, opts: AllreduceOptions) => Promise<void>;

async function run(algorithm: Allreduce, transports: Transport[], xs: Float32Array[], opts: AllreduceOptions): Promise<Float32Array[]> {
  const out = xs.map((x) => x.slice());
  await Promise.all(transports.map((t, r) => algorithm(out[r] as Float32Array, t, opts)));
  return out;
}

/** [elements, chunk elements] per collective, run back to back on the same transports */
const CASES: Record<number, [number, number][]> = {
  2: [
    [1_000_003, 256 * 1024], // about 4 MiB in 1 MiB chunks
    [10_007, 100],
    [3, 1],
    [0, 16],
  ],
  3: [
    [1_000_003, 256 * 1024],
    [65_537, 4099],
    [2, 1],
  ],
  4: [
    [4099, 33],
    [3, 1],
  ],
};

/** Registers the suite every transport passes; `ring(n)` builds n ranks of it on loopback. */
export function transportContract(name: string, ring: (n: number) => Promise<TestRing>): void {
  describe(`${name}: allreduce`, () => {
    for (const [algorithm, label, n] of [
      [ringAllreduce, 'ring', 2],
      [ringAllreduce, 'ring', 3],
      [ringAllreduce, 'ring', 4],
      [pairAllreduce, 'pair', 2],
    ] as const) {
      it(`${label} allreduce of ${n} ranks matches MemoryTransport bit for bit, collective after collective`, async () => {
        const tr = await ring(n);
        try {
          for (const [i, [len, chunkElements]] of (CASES[n] ?? []).entries()) {
            const xs = noisy(n, len, i + 1);
            const opts = { sequence: i + 1, signature: `sig-${len}`, chunkElements, timeoutMs: 10_000 };
            const want = await run(algorithm, new MemoryHub().transports(n), xs, opts);
            const got = await run(algorithm, tr.transports, xs, opts);
            for (let r = 0; r < n; r++) {
              const bytes = (x: Float32Array[]) => Buffer.from((x[r] as Float32Array).buffer);
              assert.ok(bytes(got).equals(bytes(want)), `rank ${r}, ${len} elements`);
            }
          }
        } finally {
          await tr.close();
        }
      });
    }
  });

  describe(`${name}: delivery and failures`, () => {
    it('delivers chunks in order, in place, and ends a collective when the next one begins', async () => {
      const tr = await ring(2);
      const [t0, t1] = tr.transports as [Transport, Transport];
      try {
        const send = t0.openSend(1, 5, 5000);
        send.write(chunk(5, [1, 2, 3]));
        send.write(chunk(5, [4], 1));
        send.write(chunk(5, [], 2));
        await send.flush();
        const got = [await t1.recv(0, 5, 5000), await t1.recv(0, 5, 5000), await t1.recv(0, 5, 5000)];
        assert.deepEqual(
          got.map((c) => [c.step, c.signature, c.totalElements, Array.from(c.data)]),
          [
            [0, 'sig', 100, [1, 2, 3]],
            [1, 'sig', 100, [4]],
            [2, 'sig', 100, []],
          ],
        );
        assert.ok(
          got.every((c) => c.data.byteOffset % 4 === 0),
          'received data is an aligned array',
        );
        // the next collective ends this one: asking for more fails at once
        const past = t1.recv(0, 5, 5000);
        const next = t0.openSend(1, 6, 5000);
        next.write(chunk(6, [5]));
        await next.flush();
        await assert.rejects(past, (e) => e instanceof CollectiveError && /ended after 3 chunks/.test(e.message));
        assert.deepEqual(Array.from((await t1.recv(0, 6, 5000)).data), [5]);
      } finally {
        await tr.close();
      }
    });

    it('fails a waiting receive fast when the sender aborts mid-collective; the next collective goes through', async () => {
      const tr = await ring(2);
      const [t0, t1] = tr.transports as [Transport, Transport];
      try {
        const send = t0.openSend(1, 1, 10_000);
        send.write(chunk(1, [1, 2]));
        await send.flush();
        assert.deepEqual(Array.from((await t1.recv(0, 1, 10_000)).data), [1, 2]);
        const waiting = t1.recv(0, 1, 10_000);
        const t = Date.now();
        send.abort(new Error('the local reduction failed'));
        await assert.rejects(waiting, (e) => e instanceof CollectiveError && /broke after 1 chunk/.test(e.message));
        assert.ok(Date.now() - t < 1000, `failed after ${Date.now() - t} ms, not at the timeout`);
        await assert.rejects(t1.recv(0, 1, 10_000), /broke/);
        await assert.rejects(send.flush(), /aborted: the local reduction failed/);
        const again = t0.openSend(1, 2, 10_000);
        again.write(chunk(2, [3]));
        await again.flush();
        assert.deepEqual(Array.from((await t1.recv(0, 2, 10_000)).data), [3]);
      } finally {
        await tr.close();
      }
    });

    it('fails every rank fast when one goes away mid-ring: the failure travels back around the ring', async () => {
      const tr = await ring(3);
      try {
        const xs = inputs(3, 200_000);
        const t = Date.now();
        // Rank 2 never joins the collective and shuts down. Rank 1's sends to it fail, so rank 1
        // gives up and refuses rank 0's stream, so rank 0 gives up too: nobody waits for the timeout.
        const settled = Promise.allSettled(
          [0, 1].map((r) =>
            ringAllreduce(xs[r] as Float32Array, tr.transports[r] as Transport, {
              sequence: 1,
              signature: 'sig',
              chunkElements: 1000,
              timeoutMs: 10_000,
            }),
          ),
        );
        await tr.stop(2);
        for (const r of await settled) {
          assert.ok(r.status === 'rejected' && r.reason instanceof CollectiveError, String(r.status === 'rejected' && r.reason));
        }
        assert.ok(Date.now() - t < 3000, `failed after ${Date.now() - t} ms`);
      } finally {
        await tr.close();
      }
    });

    it('times out a receive nobody sends to', async () => {
      const tr = await ring(2);
      try {
        const t1 = tr.transports[1] as Transport;
        await assert.rejects(t1.recv(0, 1, 100), (e) => e instanceof CollectiveError && /timed out after 100 ms/.test(e.message));
      } finally {
        await tr.close();
      }
    });
  });
}

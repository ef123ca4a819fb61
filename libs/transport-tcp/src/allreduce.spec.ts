import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AllreduceOptions, MemoryHub, pairAllreduce, ringAllreduce, type Transport } from '@permafrost/collective';
import { inputs, ring } from './test-ring';

type Allreduce = (buffer: Float32Array, t: Transport, opts: AllreduceOptions) => Promise<void>;

/** Runs `algorithm` on copies of `xs` over `transports`; returns every rank's result. */
async function run(algorithm: Allreduce, transports: Transport[], xs: Float32Array[], opts: AllreduceOptions): Promise<Float32Array[]> {
  const out = xs.map((x) => x.slice());
  await Promise.all(transports.map((t, r) => algorithm(out[r] as Float32Array, t, opts)));
  return out;
}

/** values whose sums depend on the order of addition: bit-identical results mean the same order */
function noisy(n: number, len: number, seed: number): Float32Array[] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) * 10 ** ((s % 7) - 3);
  };
  return Array.from({ length: n }, () => Float32Array.from({ length: len }, next));
}

describe('allreduce over TcpTransport', () => {
  for (const [name, algorithm, n] of [
    ['ring', ringAllreduce, 2],
    ['ring', ringAllreduce, 3],
    ['pair', pairAllreduce, 2],
  ] as const) {
    it(`${name} allreduce of ${n} ranks matches MemoryTransport bit for bit, collective after collective`, async () => {
      const tcp = await ring(n);
      try {
        const cases: [number, number][] = [
          [1_000_003, 256 * 1024], // ~4 MiB in 1 MiB chunks
          [10_007, 100],
          [3, 1],
          [0, 16],
          [65_537, 4099],
        ];
        for (const [sequence, [len, chunkElements]] of cases.entries()) {
          const xs = noisy(n, len, sequence + 1);
          const opts = { sequence: sequence + 1, signature: `sig-${len}`, chunkElements, timeoutMs: 10_000 };
          const want = await run(algorithm, new MemoryHub().transports(n), xs, opts);
          const got = await run(algorithm, tcp.transports, xs, opts);
          for (let r = 0; r < n; r++) {
            assert.deepEqual(
              Buffer.from((got[r] as Float32Array).buffer),
              Buffer.from((want[r] as Float32Array).buffer),
              `rank ${r}, ${len} elements`,
            );
          }
        }
      } finally {
        await tcp.close();
      }
    });
  }

  it('sums exactly with the ring of 3 on integers', async () => {
    const tcp = await ring(3);
    try {
      const xs = inputs(3, 5000);
      await Promise.all(
        tcp.transports.map((t, r) => ringAllreduce(xs[r] as Float32Array, t, { sequence: 1, signature: 's', chunkElements: 64 })),
      );
      const want = Float32Array.from({ length: 5000 }, (_, i) => [1, 2, 3].reduce((a, k) => a + ((k * (i + 3)) % 23), 0));
      for (const x of xs) assert.deepEqual(x, want);
    } finally {
      await tcp.close();
    }
  });
});

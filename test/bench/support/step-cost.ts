/**
 * A cached step's compute, alone: the scaling benchmark's head trained in one process on random
 * boundary activations, one SuffixTrainer step per batch (forward, backward, flattening the
 * gradient as a distributed step does, optimizer update), without any network. Run per local
 * batch size, it splits a step into the part every replica pays in full and the part data
 * parallelism divides, which bounds what a second worker can gain.
 *
 * With --seconds S and --start-at T (epoch ms), it instead waits until T after its setup and
 * times steps of the first batch size for S seconds: scaling.ts starts one such process alone and
 * two at once, to measure what this machine gives two trainers that share nothing.
 *
 * With --lockstep DIR --rank R (0 or 1) and --steps N as well, two such processes train in
 * lockstep: each starts a data server on loopback, they find each other's address in DIR, and
 * every step reduces its gradient through the same RingReducer a local worker uses (a pair
 * allreduce through shared memory), then yields to the event loop as a worker does; both run N
 * steps from T. That is two workers without the data path, the coordinator or the cache: what
 * synchronous data parallelism itself costs on this machine.
 *
 * Run by scaling.ts: npx tsx test/bench/support/step-cost.ts --variant steps --batches 16,32,128,256
 * (prints one JSON line: median milliseconds per step, by batch size)
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { type GradientReducer, SuffixTrainer } from '@permafrost/trainer';
import { startDataServer } from '@permafrost/transport-tcp';
import { RingReducer } from '@permafrost/worker';
import * as tf from '@tensorflow/tfjs-core';
import { arg, median } from './bench-util';

const BATCHES = arg('batches', '16,32').split(',').map(Number);
const WARMUP_STEPS = 5;
const TIMED_STEPS = 20;

await initEngine('auto');
const model = await assemble({ name: 'mobilenet_v2', inputSize: 96, head: 'gap-128' }, {}, 10, 42);
const trainer = new SuffixTrainer(model.suffix, { optimizer: 'adam', lr: 0.001, momentum: 0, nesterov: false, weightDecay: 0 });
// a reducer that sums over one rank but takes a distributed step's path (flatten/unflatten), no network
const local: GradientReducer = { worldSize: 2, allreduce: async () => undefined };

/** A pair reducer with the other --lockstep process, found through files in `dir` (bounded wait). */
async function pairReducer(dir: string, rank: number): Promise<GradientReducer> {
  const data = await startDataServer({ listen: '127.0.0.1:0' });
  // written under a temporary name and renamed, so the other process never reads half an address
  writeFileSync(join(dir, `rank-${rank}.tmp`), data.address);
  renameSync(join(dir, `rank-${rank}.tmp`), join(dir, `rank-${rank}`));
  const other = join(dir, `rank-${1 - rank}`);
  for (let i = 0; i < 1200 && !existsSync(other); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(other)) throw new Error(`step-cost: rank ${1 - rank} did not start within 60 s`);
  const addresses = [0, 1].map((r) => readFileSync(join(dir, `rank-${r}`), 'utf8'));
  return new RingReducer(data.transport(rank, 2, addresses, ['rank-0', 'rank-1'], 1n), 60_000);
}
const msPerStep: Record<number, number> = {};
// interleaved rounds, so that a noisy neighbour on a shared machine hits every size alike
const times = new Map<number, number[]>(BATCHES.map((b) => [b, []]));
const seconds = Number(arg('seconds', '0'));
const lockstep = arg('lockstep', '');
const fixedSteps = Number(arg('steps', '0'));
if (seconds > 0 || fixedSteps > 0) {
  const b = BATCHES[0] as number;
  const reducer = lockstep ? await pairReducer(lockstep, Number(arg('rank', '0'))) : local;
  const x = tf.randomNormal([b, ...model.boundaryShape]);
  const labels = Int32Array.from({ length: b }, (_, i) => i % 10);
  // as many warm-up steps on both ranks of a lockstep pair, or they would not line up
  for (let i = 0; i < WARMUP_STEPS; i++) await trainer.step(x, labels, { reducer });
  const startAt = Number(arg('start-at', '0'));
  if (Date.now() > startAt) process.stderr.write(`step-cost: set up ${Date.now() - startAt} ms after --start-at\n`);
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const ts = times.get(b) ?? [];
  while (fixedSteps > 0 ? ts.length < fixedSteps : performance.now() < end) {
    const s0 = performance.now();
    await trainer.step(x, labels, { reducer });
    if (lockstep) await new Promise<void>((r) => setImmediate(r));
    ts.push(performance.now() - s0);
  }
  const mean = (performance.now() - t0) / ts.length;
  process.stdout.write(`${JSON.stringify({ msPerStep: { [b]: median(ts) }, meanMsPerStep: { [b]: mean } })}\n`);
  process.exit(0);
}
for (let round = 0; round < 3; round++) {
  for (const b of BATCHES) {
    const x = tf.randomNormal([b, ...model.boundaryShape]);
    const labels = Int32Array.from({ length: b }, (_, i) => i % 10);
    for (let i = 0; i < WARMUP_STEPS; i++) await trainer.step(x, labels, { reducer: local });
    for (let i = 0; i < TIMED_STEPS; i++) {
      const t0 = performance.now();
      await trainer.step(x, labels, { reducer: local });
      times.get(b)?.push(performance.now() - t0);
    }
    x.dispose();
  }
}
for (const [b, ts] of times) msPerStep[b] = median(ts);
process.stdout.write(`${JSON.stringify({ msPerStep })}\n`);
process.exit(0);

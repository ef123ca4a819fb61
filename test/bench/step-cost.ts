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
 * Run by scaling.ts: npx tsx test/bench/step-cost.ts --variant steps --batches 16,32,128,256
 * (prints one JSON line: median milliseconds per step, by batch size)
 */
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { SuffixTrainer } from '@permafrost/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { arg, median } from './bench-util';

const BATCHES = arg('batches', '16,32').split(',').map(Number);
const WARMUP_STEPS = 5;
const TIMED_STEPS = 20;

await initEngine('auto');
const model = await assemble({ name: 'mobilenet_v2', inputSize: 96, head: 'gap-128' }, {}, 10, 42);
const trainer = new SuffixTrainer(model.suffix, { optimizer: 'adam', lr: 0.001, momentum: 0, nesterov: false, weightDecay: 0 });
// a reducer that sums over one rank: the flatten/unflatten of a distributed step, no network
const local = { allreduce: async () => undefined };
const msPerStep: Record<number, number> = {};
// interleaved rounds, so that a noisy neighbour on a shared machine hits every size alike
const times = new Map<number, number[]>(BATCHES.map((b) => [b, []]));
const seconds = Number(arg('seconds', '0'));
if (seconds > 0) {
  const b = BATCHES[0] as number;
  const x = tf.randomNormal([b, ...model.boundaryShape]);
  const labels = Int32Array.from({ length: b }, (_, i) => i % 10);
  for (let i = 0; i < WARMUP_STEPS; i++) await trainer.step(x, labels, { reducer: local });
  const startAt = Number(arg('start-at', '0'));
  if (Date.now() > startAt) process.stderr.write(`step-cost: set up ${Date.now() - startAt} ms after --start-at\n`);
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    await trainer.step(x, labels, { reducer: local });
    times.get(b)?.push(performance.now() - t0);
  }
  process.stdout.write(`${JSON.stringify({ msPerStep: { [b]: median(times.get(b) ?? []) } })}\n`);
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

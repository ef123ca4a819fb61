/**
 * The per-kernel profile behind test/bench/finetune.ts: where a training step over MobileNetV2's
 * last 4 blocks (boundary activations [32,3,3,160], head gap-128-10, adam) and a prefix forward
 * (32 images 96x96, inference mode) spend their time on the wasm backend, with libs/engine's
 * fused kernels off ("before": the backend's and tfjs's own) and on ("after"), in one process,
 * in alternating rounds so both see the same load. Each kernel is charged its own time, nested
 * kernels excluded (kernel-timer.ts); "outside kernels" is the rest of the step (the tape, tensor
 * bookkeeping, the optimizer's JavaScript).
 *
 * Run by finetune.ts; alone: npx tsx test/bench/support/finetune-profile.ts --variant profile
 * (prints one JSON line)
 */
import { initEngine, useFusedWasmKernels } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { SuffixTrainer } from '@permafrost/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { arg, median } from './bench-util';
import { type KernelStat, KernelTimer } from './kernel-timer';

const ROUNDS = Number(arg('rounds', '3'));
const STEPS = Number(arg('steps', '3'));
const BATCH = 32;

export interface ProfileSide {
  /** median wall ms per step (or per prefix batch) over the rounds */
  ms: number;
  runsMs: number[];
  /** ms per step outside any kernel */
  outsideKernelsMs: number;
  kernels: KernelStat[];
}

export interface ProfileResult {
  backend: string;
  training: { before: ProfileSide; after: ProfileSide };
  prefix: { before: ProfileSide; after: ProfileSide };
}

type Work = () => Promise<void>;

async function profile(timer: KernelTimer, work: Work): Promise<{ before: ProfileSide; after: ProfileSide }> {
  const sides = {
    before: { runs: [] as number[], stats: new Map<string, KernelStat>() },
    after: { runs: [] as number[], stats: new Map<string, KernelStat>() },
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of ['before', 'after'] as const) {
      useFusedWasmKernels(side === 'after');
      await work(); // warm-up after the switch, untimed
      timer.reset();
      timer.enabled = true;
      for (let s = 0; s < STEPS; s++) {
        const t0 = performance.now();
        await work();
        sides[side].runs.push(performance.now() - t0);
      }
      timer.enabled = false;
      for (const k of timer.report()) {
        const acc = sides[side].stats.get(k.kernel) ?? { kernel: k.kernel, calls: 0, selfMs: 0 };
        acc.calls += k.calls;
        acc.selfMs += k.selfMs;
        sides[side].stats.set(k.kernel, acc);
      }
    }
  }
  useFusedWasmKernels(true);
  const summarise = (s: { runs: number[]; stats: Map<string, KernelStat> }): ProfileSide => {
    const n = s.runs.length;
    const kernels = [...s.stats.values()]
      .map((k) => ({ kernel: k.kernel, calls: k.calls / n, selfMs: k.selfMs / n }))
      .sort((a, b) => b.selfMs - a.selfMs);
    const mean = s.runs.reduce((a, b) => a + b, 0) / n;
    const inKernels = kernels.reduce((a, k) => a + k.selfMs, 0);
    return { ms: median(s.runs), runsMs: s.runs, outsideKernelsMs: mean - inKernels, kernels };
  };
  return { before: summarise(sides.before), after: summarise(sides.after) };
}

export async function runProfile(): Promise<ProfileResult> {
  const engine = await initEngine('wasm');
  const model = await assemble({ name: 'mobilenet_v2', inputSize: 96, head: 'gap-128' }, { k: 4 }, 10, 42);
  const trainer = new SuffixTrainer(model.suffix, { optimizer: 'adam', lr: 0.001, momentum: 0, nesterov: false, weightDecay: 0 });
  const x = tf.randomNormal([BATCH, ...model.boundaryShape]);
  const labels = Int32Array.from({ length: BATCH }, (_, i) => i % 10);
  const images = tf.randomUniform([BATCH, 96, 96, 3], -1, 1);
  const timer = new KernelTimer('wasm');
  const training = await profile(timer, async () => {
    await trainer.step(x, labels);
  });
  const prefix = await profile(timer, async () => {
    const y = model.prefix.predict(images) as tf.Tensor;
    await y.data();
    y.dispose();
  });
  timer.unwrap();
  tf.dispose([x, images]);
  trainer.dispose();
  return { backend: engine.backend, training, prefix };
}

if (arg('variant', '') === 'profile') {
  process.stdout.write(`${JSON.stringify(await runProfile())}\n`);
}

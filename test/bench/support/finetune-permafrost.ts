/**
 * Permafrost's side of test/bench/finetune.ts, one variant per process:
 *
 *   head       the head (gap-128-10) alone trains on MobileNetV2's frozen backbone, with the
 *              activation cache: epoch 1 runs the backbone once per sample and writes the cache,
 *              later epochs read it
 *   last4      the last 4 blocks (block_14, block_15, block_16, Conv_1) and the head train, the
 *              prefix before them cached the same way
 *   inference  the frozen backbone's forward alone (inference mode, no tape), samples/s by batch
 *
 * Fashion-MNIST, 96x96, adam 1e-3, batch 32, seed 42, through the trainer's own fit(); epoch
 * seconds are training only (fit times validation apart). --fused 0 turns libs/engine's fused
 * wasm kernels off; --threads N|auto gives XNNPACK N threads (default auto, as train: every core).
 * The first epoch's prefix forward (input read, preprocessing and the backbone, through the
 * trainer's activation source) is reported in samples/s beside the epochs.
 *
 * Run by finetune.ts; alone: npx tsx test/bench/support/finetune-permafrost.ts --variant last4
 * (prints one JSON line)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset, splitTrainVal } from '@permafrost/data';
import { engineInfo, initEngine, useFusedWasmKernels } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { fit } from '@permafrost/trainer';
import { adam } from '@permafrost/trainer/testing';
import * as tf from '@tensorflow/tfjs-core';
import { arg, median } from './bench-util';

const SAMPLES = Number(arg('samples', '1024'));
const EPOCHS = Number(arg('epochs', '3'));
const BATCH = 32;
const SEED = 42;
const SIZE = 96;

export interface EpochsResult {
  variant: string;
  backend: string;
  fused: boolean;
  threads: number;
  /** the library that ran the matrix products besides XNNPACK (OpenBLAS), if any */
  gemm?: string;
  epochSeconds: number[];
  /** epochs 2+ (read from the cache) */
  cachedMedianSeconds: number;
  /** the first epoch's prefix forward: samples that missed the cache over the seconds the prefix took */
  prefixSamplesPerSecond: number;
}

export interface InferenceResult {
  variant: 'inference';
  backend: string;
  fused: boolean;
  threads: number;
  /** samples/s of the backbone's forward, by batch size */
  samplesPerSecond: Record<string, number>;
}

async function epochs(name: 'head' | 'last4', backend: string, fused: boolean, threads: number): Promise<EpochsResult> {
  const dataset = await openDataset('fashion-mnist');
  const { train, val } = splitTrainVal(dataset, { seed: SEED, trainSamples: SAMPLES, valSamples: 32 });
  const freeze = name === 'last4' ? { k: 4 } : {};
  const model = await assemble({ name: 'mobilenet_v2', inputSize: SIZE, head: 'gap-128' }, freeze, dataset.numClasses, SEED);
  const cacheDir = mkdtempSync(join(tmpdir(), 'permafrost-bench-finetune-'));
  try {
    const r = await fit({
      model,
      dataset,
      trainIds: train,
      valIds: val,
      epochs: EPOCHS,
      batchSize: BATCH,
      seed: SEED,
      optimizer: adam(0.001),
      cache: { dir: cacheDir, codec: 'float32', modelName: 'mobilenet_v2' },
      onProgress: (e) => {
        if (e.type === 'epoch') process.stderr.write(`${name}: epoch ${e.record.epoch} ${e.record.seconds.toFixed(2)} s\n`);
      },
    });
    r.trainer.dispose();
    const epochSeconds = r.epochs.map((e) => e.seconds);
    const first = r.epochs[0];
    const prefixSamplesPerSecond = first ? first.cacheMisses / first.prefixSeconds : Number.NaN;
    return {
      variant: name,
      backend,
      fused,
      threads,
      gemm: fused ? engineInfo()?.gemmLibrary : undefined,
      epochSeconds,
      cachedMedianSeconds: median(epochSeconds.slice(1)),
      prefixSamplesPerSecond,
    };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
    await dataset.close();
  }
}

async function inference(backend: string, fused: boolean, threads: number): Promise<InferenceResult> {
  const model = await assemble({ name: 'mobilenet_v2', inputSize: SIZE, head: 'gap-128' }, {}, 10, SEED);
  const samplesPerSecond: Record<string, number> = {};
  const sizes = arg('inference-batches', '16,32,64,128').split(',').map(Number);
  for (const b of sizes) {
    const images = tf.randomUniform([b, SIZE, SIZE, 3], -1, 1);
    const runs: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const y = model.prefix.predict(images, { batchSize: b }) as tf.Tensor;
      await y.data();
      y.dispose();
      if (i > 0) runs.push(performance.now() - t0); // the first call warms XNNPACK's operator caches
    }
    images.dispose();
    samplesPerSecond[String(b)] = (b * 1000) / median(runs);
  }
  return { variant: 'inference', backend, fused, threads, samplesPerSecond };
}

const variant = arg('variant', '');
if (variant) {
  const threads = arg('threads', 'auto');
  const engine = await initEngine('auto', { threads: threads === 'auto' ? 'auto' : Number(threads) });
  const fused = arg('fused', '1') !== '0';
  useFusedWasmKernels(fused);
  const result =
    variant === 'inference'
      ? await inference(engine.backend, fused, engine.threads)
      : await epochs(variant as 'head' | 'last4', engine.backend, fused, engine.threads);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

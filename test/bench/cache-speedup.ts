/**
 * Benchmark: what the frozen-activation cache saves. One run, side by side, same backend, model,
 * data, batch size and seed; each variant in its own process so peak RSS is its own.
 *
 *   (a) keras     the whole model in model.fit with the prefix trainable=false (inputs preloaded)
 *   (b) features  prefix features precomputed into memory, then the head trained on them
 *   (c) cached    Permafrost with the LMDB cache (epoch 1, and epochs 2+, separately)
 *   (d) uncached  Permafrost with the cache disabled
 *
 * Setup: mobilenet_v2 at 96x96 cut at out_relu, head gap-128-10, batch 32, Fashion-MNIST,
 * 3 epochs. Run: npx nx run bench:cache-speedup -- [--samples 2048] [--epochs 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batches, type Dataset, openDataset, preprocess, splitTrainVal } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { type Assembled, assemble } from '@permafrost/model';
import { fit } from '@permafrost/trainer';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { arg, machine, median, runVariant, writeResults } from './support/bench-util';

const SAMPLES = Number(arg('samples', '2048'));
const EPOCHS = Number(arg('epochs', '3'));
const BATCH = 32;
const SEED = 42;
const SIZE = 96;
const LR = 0.001;

interface VariantResult {
  variant: string;
  backend: string;
  epochSeconds: number[];
  /** one-off work before the epochs (feature extraction for (b)) */
  setupSeconds: number;
  peakRssBytes: number;
  finalLoss: number;
}

async function setup(): Promise<{ dataset: Dataset; model: Assembled; ids: number[]; backend: string }> {
  const engine = await initEngine('auto');
  const dataset = await openDataset('fashion-mnist');
  const { train } = splitTrainVal(dataset, { seed: SEED, trainSamples: SAMPLES, valSamples: 0 });
  const model = await assemble({ name: 'mobilenet_v2', inputSize: SIZE, head: 'gap-128' }, {}, dataset.numClasses, SEED);
  return { dataset, model, ids: train, backend: engine.backend };
}

async function loadAll(dataset: Dataset, model: Assembled, ids: number[]): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
  const raw = await dataset.read(ids, { sizePx: SIZE });
  return { x: preprocess(raw, model.input), y: tf.tensor1d(raw.labels, 'float32') };
}

async function timedFit(m: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<{ seconds: number[]; loss: number }> {
  m.compile({ optimizer: tf.train.adam(LR), loss: 'sparseCategoricalCrossentropy' });
  const seconds: number[] = [];
  let loss = Number.NaN;
  for (let e = 0; e < EPOCHS; e++) {
    const t0 = performance.now();
    const h = await m.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: true, verbose: 0 });
    seconds.push((performance.now() - t0) / 1000);
    loss = Number(h.history.loss?.[0]);
  }
  return { seconds, loss };
}

async function variant(name: string): Promise<VariantResult> {
  const { dataset, model, ids, backend } = await setup();
  const rss = () => process.resourceUsage().maxRSS * 1024;
  if (name === 'keras') {
    const { x, y } = await loadAll(dataset, model, ids);
    for (const l of model.prefix.layers) l.trainable = false;
    const r = await timedFit(model.full, x, y);
    return { variant: name, backend, epochSeconds: r.seconds, setupSeconds: 0, peakRssBytes: rss(), finalLoss: r.loss };
  }
  if (name === 'features') {
    const t0 = performance.now();
    const parts: tf.Tensor[] = [];
    const labels: number[] = [];
    for (const chunk of batches(ids, BATCH)) {
      const raw = await dataset.read(chunk, { sizePx: SIZE });
      parts.push(tf.tidy(() => model.prefix.predict(preprocess(raw, model.input)) as tf.Tensor));
      labels.push(...raw.labels);
    }
    const x = tf.concat(parts);
    tf.dispose(parts);
    await x.data();
    const setupSeconds = (performance.now() - t0) / 1000;
    const r = await timedFit(model.suffix, x, tf.tensor1d(labels, 'float32'));
    return { variant: name, backend, epochSeconds: r.seconds, setupSeconds, peakRssBytes: rss(), finalLoss: r.loss };
  }
  const cacheDir = mkdtempSync(join(tmpdir(), 'permafrost-bench-'));
  try {
    const r = await fit({
      model,
      dataset,
      trainIds: ids,
      valIds: [],
      epochs: EPOCHS,
      batchSize: BATCH,
      seed: SEED,
      optimizer: { optimizer: 'adam', lr: LR, momentum: 0, nesterov: false, weightDecay: 0 },
      cache: name === 'cached' ? { dir: cacheDir, codec: 'float32', modelName: 'mobilenet_v2' } : undefined,
    });
    const epochs = r.epochs;
    return {
      variant: name,
      backend,
      epochSeconds: epochs.map((e) => e.seconds),
      setupSeconds: 0,
      peakRssBytes: rss(),
      finalLoss: epochs.at(-1)?.trainLoss ?? Number.NaN,
    };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const only = arg('variant', '');
  if (only) {
    process.stdout.write(`${JSON.stringify(await variant(only))}\n`);
    process.exit(0);
  }
  const script = new URL(import.meta.url).pathname;
  const extra = ['--samples', String(SAMPLES), '--epochs', String(EPOCHS)];
  const results: Record<string, VariantResult> = {};
  for (const v of ['keras', 'features', 'cached', 'uncached']) {
    process.stderr.write(`running ${v}...\n`);
    results[v] = await runVariant<VariantResult>(script, v, extra);
  }
  const a = results.keras as VariantResult;
  const b = results.features as VariantResult;
  const c = results.cached as VariantResult;
  const d = results.uncached as VariantResult;
  const perEpoch = (r: VariantResult) => median(r.epochSeconds);
  const later = (r: VariantResult) => median(r.epochSeconds.slice(1));
  const c1 = c.epochSeconds[0] ?? Number.NaN;
  const c2 = later(c);
  const ratios = {
    kerasOverCachedLater: perEpoch(a) / c2,
    cachedLaterOverFeatures: c2 / later(b),
    cachedFirstOverKeras: c1 / perEpoch(a),
    uncachedOverKeras: perEpoch(d) / perEpoch(a),
  };
  writeResults('cache-speedup', {
    date: new Date().toISOString(),
    machine: machine(),
    samples: SAMPLES,
    epochs: EPOCHS,
    batch: BATCH,
    results,
    ratios,
  });
}

await main();

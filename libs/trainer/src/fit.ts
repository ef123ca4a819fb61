/**
 * The single-process training loop: per epoch a seeded shuffle of the training ids, batches of
 * boundary activations from the ActivationSource (the frozen prefix in inference mode with no
 * tape, or the LMDB cache), a step on the suffix, and an evaluation on the validation ids through
 * the same source (so validation activations are cached too). Emits progress events, records
 * cache counters per epoch, writes checkpoints when asked.
 */
import type { Dataset } from '@permafrost/data';
import { batches, epochOrder } from '@permafrost/data';
import type { Assembled } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import { ActivationSource, addCounters, type BatchCounters, emptyCounters } from './activation-source';
import { type CacheSpec, openRunCache } from './cache-setup';
import { writeCheckpoint } from './checkpoint';
import { assertGradientKernels } from './kernel-check';
import { correctCount, crossEntropySum } from './loss';
import type { OptimizerSpec } from './optimizer';
import type { EpochRecord } from './report';
import { SuffixTrainer } from './suffix-trainer';

export type ProgressEvent =
  | {
      type: 'step';
      epoch: number;
      epochs: number;
      step: number;
      steps: number;
      samplesPerSec: number;
      loss: number;
      cacheHitRate: number | undefined;
    }
  | { type: 'evaluate'; epoch: number }
  | { type: 'epoch'; record: EpochRecord; epochs: number }
  | { type: 'checkpoint'; dir: string };

export interface FitOptions {
  model: Assembled;
  dataset: Dataset;
  trainIds: readonly number[];
  valIds: readonly number[];
  epochs: number;
  batchSize: number;
  seed: number;
  optimizer: OptimizerSpec;
  /** the activation cache; undefined trains uncached */
  cache?: CacheSpec & { modelName: string };
  checkpoint?: { dir: string; everyEpoch: boolean; meta?: Record<string, unknown> };
  onProgress?: (e: ProgressEvent) => void;
}

export interface FitResult {
  epochs: EpochRecord[];
  checkpoint: string | undefined;
  trainer: SuffixTrainer;
  /** samples pushed through the frozen prefix over the whole run */
  prefixSamples: number;
  fingerprint: string | undefined;
}

export async function evaluate(
  suffix: Assembled['suffix'],
  source: ActivationSource,
  ids: readonly number[],
  batchSize: number,
): Promise<{ loss: number; accuracy: number; counters: BatchCounters }> {
  let counters = emptyCounters();
  if (ids.length === 0) return { loss: Number.NaN, accuracy: Number.NaN, counters };
  let lossSum = 0;
  let correct = 0;
  for (const chunk of batches(ids, batchSize)) {
    const b = await source.batch(chunk);
    counters = addCounters(counters, b.counters);
    const [l, c] = tf.tidy(() => {
      const probs = suffix.predict(b.activations, { batchSize: chunk.length }) as tf.Tensor;
      const y = tf.tensor1d(b.labels, 'int32');
      return [crossEntropySum(probs, y), correctCount(probs, y)];
    });
    b.activations.dispose();
    lossSum += (await l.data())[0] ?? 0;
    correct += (await c.data())[0] ?? 0;
    tf.dispose([l, c]);
  }
  return { loss: lossSum / ids.length, accuracy: correct / ids.length, counters };
}

export async function fit(opts: FitOptions): Promise<FitResult> {
  const { model, dataset } = opts;
  assertGradientKernels(model.suffix);
  const opened = opts.cache ? openRunCache(model, dataset, opts.cache.modelName, opts.cache) : undefined;
  const source = new ActivationSource(model, dataset, opened);
  const trainer = new SuffixTrainer(model.suffix, opts.optimizer);
  const records: EpochRecord[] = [];
  const trainableLayers = model.suffix.layers.filter((l) => l.trainableWeights.length > 0).length;
  let globalStep = 0;
  let checkpoint: string | undefined;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const t0 = performance.now();
      const order = batches(epochOrder(opts.trainIds, opts.seed, epoch), opts.batchSize);
      let lossSum = 0;
      let seen = 0;
      let counters = emptyCounters();
      for (let i = 0; i < order.length; i++) {
        const b = await source.batch(order[i] as number[]);
        counters = addCounters(counters, b.counters);
        const r = await trainer.step(b.activations, b.labels);
        b.activations.dispose();
        lossSum += r.lossSum;
        seen += r.count;
        globalStep++;
        const looked = counters.hits + counters.misses;
        opts.onProgress?.({
          type: 'step',
          epoch,
          epochs: opts.epochs,
          step: i + 1,
          steps: order.length,
          samplesPerSec: seen / ((performance.now() - t0) / 1000),
          loss: r.lossSum / r.count,
          cacheHitRate: source.cached && looked > 0 ? counters.hits / looked : undefined,
        });
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      opts.onProgress?.({ type: 'evaluate', epoch });
      const tv = performance.now();
      const val = await evaluate(model.suffix, source, opts.valIds, opts.batchSize);
      const all = addCounters(counters, val.counters);
      if (opened) {
        await opened.store.flush();
        opened.store.recordUsage(opened.handle, all);
      }
      const record: EpochRecord = {
        epoch,
        seconds: trainSeconds,
        samplesPerSec: seen / trainSeconds,
        trainLoss: lossSum / Math.max(seen, 1),
        valLoss: val.loss,
        valAccuracy: val.accuracy,
        valSeconds: (performance.now() - tv) / 1000,
        cacheHits: counters.hits,
        cacheMisses: counters.misses,
        cacheChecksumFailures: all.checksumFailures,
        cacheBytesRead: all.bytesRead,
        cacheBytesWritten: all.bytesWritten,
        cacheReadSeconds: all.readMs / 1000,
        cacheWriteSeconds: all.writeMs / 1000,
        cached: source.cached,
        trainableLayers,
        boundary: model.boundary,
        prefixSeconds: counters.prefixMs / 1000,
      };
      records.push(record);
      opts.onProgress?.({ type: 'epoch', record, epochs: opts.epochs });
      const last = epoch === opts.epochs;
      if (opts.checkpoint && (last || opts.checkpoint.everyEpoch)) {
        const name = last ? 'final' : `epoch-${String(epoch).padStart(4, '0')}`;
        const meta = { ...opts.checkpoint.meta, epoch, step: globalStep, boundary: model.boundary, valAccuracy: val.accuracy };
        checkpoint = await writeCheckpoint(opts.checkpoint.dir, name, model.full, trainer.optimizer, meta);
        opts.onProgress?.({ type: 'checkpoint', dir: checkpoint });
      }
    }
  } finally {
    await opened?.store.close();
  }
  return { epochs: records, checkpoint, trainer, prefixSamples: source.prefixSamples, fingerprint: opened?.fingerprint };
}

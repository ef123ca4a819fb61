/**
 * The single-process training loop: per epoch a seeded shuffle of the training ids, batches of
 * boundary activations from the ActivationSource (the frozen prefix in inference mode with no
 * tape, or the LMDB cache), a step on the suffix, and an evaluation on the validation ids through
 * the same source (so validation activations are cached too). Emits progress events, records
 * cache counters per epoch, writes checkpoints when asked.
 */
import type { Dataset } from '@permafrost/data';
import { batches, epochOrder } from '@permafrost/data';
import type { FreezePolicy } from '@permafrost/freeze';
import type { Assembled } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import { type ActivationSource, addCounters, type BatchCounters, emptyCounters } from './activation-source';
import type { CacheSpec } from './cache-setup';
import { writeCheckpoint } from './checkpoint';
import { FreezeController } from './freeze-controller';
import { freezePlanFor, stepsPerEpoch } from './freeze-setup';
import { assertGradientKernels } from './kernel-check';
import { correctCount, crossEntropySum } from './loss';
import type { OptimizerSpec } from './optimizer';
import type { EpochRecord } from './report';
import type { SuffixTrainer } from './suffix-trainer';

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
  | { type: 'freeze'; step: number; epoch: number; boundary: string; blocks: string[]; trainableLayers: number }
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
  /** the freeze policy (default: the fixed boundary the model was assembled with) */
  freeze?: FreezePolicy;
  checkpoint?: { dir: string; everyEpoch: boolean; meta?: Record<string, unknown> };
  onProgress?: (e: ProgressEvent) => void;
}

export interface FitResult {
  epochs: EpochRecord[];
  checkpoint: string | undefined;
  trainer: SuffixTrainer;
  /** samples pushed through the frozen prefix from the input over the whole run */
  prefixSamples: number;
  /** the fingerprint of the final boundary, if cached */
  fingerprint: string | undefined;
  /** every fingerprint the run registered (one per boundary), oldest first */
  fingerprints: string[];
  /** the frozen boundary at the end */
  boundary: string;
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
  const perEpoch = stepsPerEpoch(opts.trainIds.length, opts.batchSize);
  const plan = freezePlanFor(model, opts.freeze ?? { policy: 'prefix' }, perEpoch * opts.epochs);
  const ctl = new FreezeController({ model, dataset, plan, optimizer: opts.optimizer, cache: opts.cache });
  const records: EpochRecord[] = [];
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
        const event = ctl.beforeStep(globalStep);
        if (event) {
          opts.onProgress?.({
            type: 'freeze',
            step: globalStep,
            epoch,
            boundary: event.boundary,
            blocks: event.blocks,
            trainableLayers: ctl.trainableLayers,
          });
        }
        const b = await ctl.source.batch(order[i] as number[]);
        counters = addCounters(counters, b.counters);
        const r = await ctl.trainer.step(b.activations, b.labels);
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
          cacheHitRate: ctl.source.cached && looked > 0 ? counters.hits / looked : undefined,
        });
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      opts.onProgress?.({ type: 'evaluate', epoch });
      const tv = performance.now();
      const val = await evaluate(ctl.suffix, ctl.source, opts.valIds, opts.batchSize);
      const all = addCounters(counters, val.counters);
      await ctl.recordUsage(all);
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
        cached: ctl.source.cached,
        trainableLayers: ctl.trainableLayers,
        boundary: ctl.boundary,
        prefixSeconds: counters.prefixMs / 1000,
      };
      records.push(record);
      opts.onProgress?.({ type: 'epoch', record, epochs: opts.epochs });
      const last = epoch === opts.epochs;
      if (opts.checkpoint && (last || opts.checkpoint.everyEpoch)) {
        const name = last ? 'final' : `epoch-${String(epoch).padStart(4, '0')}`;
        const meta = { ...opts.checkpoint.meta, epoch, step: globalStep, boundary: ctl.boundary, valAccuracy: val.accuracy };
        checkpoint = await writeCheckpoint(opts.checkpoint.dir, name, model.full, ctl.trainer.optimizers, meta);
        opts.onProgress?.({ type: 'checkpoint', dir: checkpoint });
      }
    }
  } finally {
    await ctl.close();
  }
  return {
    epochs: records,
    checkpoint,
    trainer: ctl.trainer,
    prefixSamples: ctl.prefixSamples,
    fingerprint: ctl.opened?.fingerprint,
    fingerprints: ctl.fingerprints,
    boundary: ctl.boundary,
  };
}

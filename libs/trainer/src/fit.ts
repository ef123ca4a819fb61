/**
 * The single-process training loop: per epoch a seeded shuffle of the training ids, batches read
 * one ahead of the compute (the read of batch i+1 overlaps the step on batch i), the frozen prefix
 * run in inference mode with no gradient tape, a step on the suffix, and an evaluation of the full
 * model on the validation ids. Emits progress events; writes checkpoints when asked.
 */
import { batches, type Dataset, epochOrder, preprocess, type RawBatch } from '@permafrost/data';
import type { Assembled } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { writeCheckpoint } from './checkpoint';
import { assertGradientKernels } from './kernel-check';
import { correctCount, crossEntropySum } from './loss';
import type { OptimizerSpec } from './optimizer';
import type { EpochRecord } from './report';
import { SuffixTrainer } from './suffix-trainer';

export type ProgressEvent =
  | { type: 'step'; epoch: number; epochs: number; step: number; steps: number; samplesPerSec: number; loss: number }
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
  checkpoint?: { dir: string; everyEpoch: boolean; meta?: Record<string, unknown> };
  onProgress?: (e: ProgressEvent) => void;
}

export interface FitResult {
  epochs: EpochRecord[];
  checkpoint: string | undefined;
  trainer: SuffixTrainer;
}

/** Runs the frozen prefix on a preprocessed batch: inference mode, outside any tape. */
export function runPrefix(model: Assembled, raw: RawBatch): tf.Tensor {
  return tf.tidy(() => {
    const x = preprocess(raw, model.input);
    return model.prefix.predict(x, { batchSize: raw.ids.length }) as tf.Tensor;
  });
}

export async function evaluate(
  full: tfl.LayersModel,
  dataset: Dataset,
  ids: readonly number[],
  batchSize: number,
  input: Assembled['input'],
): Promise<{ loss: number; accuracy: number }> {
  if (ids.length === 0) return { loss: Number.NaN, accuracy: Number.NaN };
  let lossSum = 0;
  let correct = 0;
  for (const chunk of batches(ids, batchSize)) {
    const raw = await dataset.read(chunk, { sizePx: input.sizePx });
    const [l, c] = tf.tidy(() => {
      const probs = full.predict(preprocess(raw, input), { batchSize: chunk.length }) as tf.Tensor;
      const y = tf.tensor1d(raw.labels, 'int32');
      return [crossEntropySum(probs, y), correctCount(probs, y)];
    });
    lossSum += (await l.data())[0] ?? 0;
    correct += (await c.data())[0] ?? 0;
    tf.dispose([l, c]);
  }
  return { loss: lossSum / ids.length, accuracy: correct / ids.length };
}

export async function fit(opts: FitOptions): Promise<FitResult> {
  const { model, dataset } = opts;
  assertGradientKernels(model.suffix);
  const trainer = new SuffixTrainer(model.suffix, opts.optimizer);
  const records: EpochRecord[] = [];
  const trainableLayers = model.suffix.layers.filter((l) => l.trainableWeights.length > 0).length;
  let globalStep = 0;
  let checkpoint: string | undefined;
  const read = (ids: number[]) => dataset.read(ids, { sizePx: model.input.sizePx });

  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const t0 = performance.now();
    const order = batches(epochOrder(opts.trainIds, opts.seed, epoch), opts.batchSize);
    let lossSum = 0;
    let seen = 0;
    let prefixMs = 0;
    let next = order[0] ? read(order[0]) : undefined;
    for (let i = 0; i < order.length && next; i++) {
      const raw = await next;
      next = order[i + 1] ? read(order[i + 1] as number[]) : undefined;
      const tp = performance.now();
      const acts = runPrefix(model, raw);
      prefixMs += performance.now() - tp;
      const r = await trainer.step(acts, raw.labels);
      acts.dispose();
      lossSum += r.lossSum;
      seen += r.count;
      globalStep++;
      opts.onProgress?.({
        type: 'step',
        epoch,
        epochs: opts.epochs,
        step: i + 1,
        steps: order.length,
        samplesPerSec: seen / ((performance.now() - t0) / 1000),
        loss: r.lossSum / r.count,
      });
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    opts.onProgress?.({ type: 'evaluate', epoch });
    const val = await evaluate(model.full, dataset, opts.valIds, opts.batchSize, model.input);
    const record: EpochRecord = {
      epoch,
      seconds: trainSeconds,
      samplesPerSec: seen / trainSeconds,
      trainLoss: lossSum / Math.max(seen, 1),
      valLoss: val.loss,
      valAccuracy: val.accuracy,
      cacheHits: 0,
      cacheMisses: seen,
      trainableLayers,
      boundary: model.boundary,
      prefixSeconds: prefixMs / 1000,
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
  return { epochs: records, checkpoint, trainer };
}

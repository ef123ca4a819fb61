/**
 * A whole single-process run from a validated job spec: backend, dataset and split, model
 * assembly, the training loop, the final checkpoint and the report. The CLI's `train` command is
 * this plus flag parsing; each worker of a distributed job builds the same pieces (run-setup.ts).
 */
import { writeFile } from 'node:fs/promises';
import { openDataset, splitTrainVal } from '@permafrost/data';
import type { SchedulePreview } from '@permafrost/freeze';
import type { JobSpec } from '@permafrost/job';
import { log, Progress } from '@permafrost/telemetry';
import { fit, type ProgressEvent } from './fit';
import { freezePolicy, planJob } from './freeze-setup';
import { prefixRecipe } from './prefix-recipe';
import type { RunReport } from './report';
import { describeModel, finalMetrics, prepareRun } from './run-setup';

export interface TrainJobOptions {
  /** where to write the JSON report */
  reportPath?: string;
  progress?: Progress;
  onProgress?: (e: ProgressEvent) => void;
}

export async function trainJob(job: JobSpec, opts: TrainJobOptions = {}): Promise<RunReport> {
  const startedAt = new Date();
  const { engine, dataset, train, val, model } = await prepareRun(job);
  try {
    const info = describeModel(job, model);
    const trainableParams = info.trainableParams;
    log().info('model ready', {
      model: job.model.name,
      boundary: model.boundary,
      boundaryShape: model.boundaryShape,
      frozenLayers: model.prefix.layers.length,
      trainableParams,
    });
    log().info('data ready', { dataset: dataset.name, train: train.length, val: val.length, classes: dataset.numClasses });
    const progress = opts.progress ?? new Progress();
    const result = await fit({
      model,
      dataset,
      trainIds: train,
      valIds: val,
      epochs: job.train.epochs,
      batchSize: job.train.batchSize,
      seed: job.train.seed,
      optimizer: job.train,
      cache: job.cache.enabled
        ? { dir: job.cache.dir, codec: job.cache.codec, modelName: job.model.name, recipe: prefixRecipe(job) }
        : undefined,
      freeze: freezePolicy(job.freeze),
      checkpoint: {
        dir: job.checkpoint.dir ?? '.permafrost/checkpoints',
        everyEpoch: job.checkpoint.everyEpoch && job.checkpoint.dir !== undefined,
        meta: { job },
      },
      onProgress: (e) => {
        opts.onProgress?.(e);
        if (e.type === 'step') {
          progress.update(`epoch ${e.epoch}/${e.epochs}`, e.step, e.steps, {
            'samples/s': e.samplesPerSec,
            loss: e.loss,
            ...(e.cacheHitRate === undefined ? {} : { 'cache hits': `${Math.round(100 * e.cacheHitRate)}%` }),
          });
        } else if (e.type === 'evaluate') {
          progress.clear();
        } else if (e.type === 'freeze') {
          progress.milestone(`step ${e.step}: froze ${e.blocks.join(', ')}`, { boundary: e.boundary, trainableLayers: e.trainableLayers });
        } else if (e.type === 'epoch') {
          const r = e.record;
          progress.milestone(`epoch ${r.epoch}/${e.epochs}`, {
            seconds: round(r.seconds),
            samplesPerSec: round(r.samplesPerSec),
            trainLoss: round(r.trainLoss, 4),
            valLoss: round(r.valLoss, 4),
            valAccuracy: round(r.valAccuracy, 4),
            cacheHits: r.cacheHits,
            cacheMisses: r.cacheMisses,
          });
        } else {
          progress.milestone('checkpoint written', { dir: e.dir });
        }
      },
    });
    result.trainer.dispose();
    const report: RunReport = {
      backend: engine.backend,
      workers: 1,
      model: info,
      data: {
        dataset: dataset.name,
        datasetId: dataset.id,
        trainSamples: train.length,
        valSamples: val.length,
        numClasses: dataset.numClasses,
      },
      train: { ...job.train },
      epochs: result.epochs,
      final: {
        ...finalMetrics(result.epochs),
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        checkpoint: result.checkpoint,
      },
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
    };
    if (opts.reportPath) {
      await writeFile(opts.reportPath, `${JSON.stringify(report, null, 2)}\n`);
      log().info('report written', { path: opts.reportPath });
    }
    return report;
  } finally {
    await dataset.close();
  }
}

/** `train --dry-run`: the freeze schedule of a job, without training. */
export async function previewJob(job: JobSpec): Promise<SchedulePreview> {
  const dataset = await openDataset(job.data.dataset, { fashionMnistDir: job.data.fashionMnistDir });
  try {
    const { train } = splitTrainVal(dataset, {
      seed: job.train.seed,
      trainSamples: job.data.trainSamples,
      valSamples: job.data.valSamples,
    });
    return (await planJob(job, train.length, dataset.numClasses)).preview;
  } finally {
    await dataset.close();
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

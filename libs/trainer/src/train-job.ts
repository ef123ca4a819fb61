/**
 * A whole single-process run from a validated job spec: backend, dataset and split, model
 * assembly, the training loop at world size 1 (fit.ts), the final checkpoint and the report. The
 * CLI's `train` command is this plus flag parsing; each worker of a distributed job builds the
 * same pieces (run-setup.ts) and drives the same loop.
 */
import { writeFile } from 'node:fs/promises';
import type { SchedulePreview } from '@permafrost/freeze';
import type { JobSpec } from '@permafrost/job';
import { log, RunProgress } from '@permafrost/telemetry';
import { fit, type ProgressEvent } from './fit';
import { planJob } from './freeze-setup';
import { dataInfo, type RunReport, runReport } from './report';
import { cacheOf, checkpointRoot, describeModel, jobSplit, loopOptionsOf, openJobDataset, prepareRun } from './run-setup';

export interface TrainJobOptions {
  /** where to write the JSON report */
  reportPath?: string;
  progress?: RunProgress;
  onProgress?: (e: ProgressEvent) => void;
}

export async function trainJob(job: JobSpec, opts: TrainJobOptions = {}): Promise<RunReport> {
  const startedAt = new Date();
  const run = await prepareRun(job);
  const { engine, dataset, train, val, model } = run;
  try {
    const info = describeModel(job, model);
    log().info('model ready', {
      model: job.model.name,
      boundary: model.boundary,
      boundaryShape: model.boundaryShape,
      frozenLayers: info.frozenLayers,
      trainableParams: info.trainableParams,
    });
    log().info('data ready', { dataset: dataset.name, train: train.length, val: val.length, classes: dataset.numClasses });
    const progress = opts.progress ?? new RunProgress();
    const result = await fit({
      ...loopOptionsOf(job, run),
      cache: cacheOf(job, job.cache.dir),
      checkpoint: { dir: checkpointRoot(job), everyEpoch: job.checkpoint.everyEpoch && job.checkpoint.dir !== undefined, meta: { job } },
      onProgress: (e) => {
        opts.onProgress?.(e);
        showProgress(progress, e, job.train.epochs);
      },
    });
    result.trainer.dispose();
    const report = runReport({
      backend: engine.backend,
      model: { ...info },
      data: dataInfo(dataset, train, val),
      job,
      epochs: result.epochs,
      startedAt,
    });
    if (opts.reportPath) {
      await writeFile(opts.reportPath, `${JSON.stringify(report, null, 2)}\n`);
      log().info('report written', { path: opts.reportPath });
    }
    return report;
  } finally {
    await dataset.close();
  }
}

function showProgress(progress: RunProgress, e: ProgressEvent, epochs: number): void {
  if (e.type === 'step') {
    const looked = e.counters.hits + e.counters.misses;
    progress.step({
      epoch: e.epoch,
      epochs,
      step: e.step,
      steps: e.steps,
      samplesPerSec: e.samples / Math.max(e.seconds, 1e-9),
      loss: e.batchLoss,
      cacheHitRate: e.cached && looked > 0 ? e.counters.hits / looked : undefined,
    });
  } else if (e.type === 'evaluate') progress.clear();
  else if (e.type === 'freeze') progress.froze(e.step, e.blocks, e.boundary, e.trainableLayers);
  else if (e.type === 'epoch') progress.epochDone(e.record, e.epochs);
  else progress.checkpointWritten(e.dir);
}

/** `train --dry-run`: the freeze schedule of a job, without training. */
export async function previewJob(job: JobSpec): Promise<SchedulePreview> {
  const dataset = await openJobDataset(job);
  try {
    const { train } = jobSplit(job, dataset);
    return (await planJob(job, train.length, dataset.numClasses)).preview;
  } finally {
    await dataset.close();
  }
}

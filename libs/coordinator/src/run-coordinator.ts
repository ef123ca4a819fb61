/**
 * `coordinator start`: validate the job, listen, (optionally) spawn local workers, drive the job,
 * write the report, and clean up on every path. Resolves with the report when the job is done;
 * rejects with JobFailed naming the worker when it is not.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultShardCount, openDataset, splitTrainVal } from '@permafrost/data';
import { formatPreview } from '@permafrost/freeze';
import type { JobSpec } from '@permafrost/job';
import { log, Progress, UserError } from '@permafrost/telemetry';
import { type FinalMetrics, finalMetrics, planJob } from '@permafrost/trainer';
import { startCoordinatorServer } from '@permafrost/transport-grpc';
import { Coordinator, JobFailed } from './coordinator';
import type { EpochSummary } from './epoch-summary';
import { LocalWorkers, type SpawnWorker } from './local-workers';

export interface RunCoordinatorOptions {
  job: JobSpec;
  /** HOST:PORT to listen on (port 0: any free port) */
  listen: string;
  localWorkers: number;
  /** starts local worker `index` against the coordinator at `address` */
  spawnWorker?: (index: number, address: string) => ReturnType<SpawnWorker>;
  reportPath?: string;
  resume?: boolean;
  /** called once the server listens (tests and tools read the port from here) */
  onListening?: (address: string) => void;
}

export interface DistributedReport {
  backend: string;
  workers: number;
  members: { rank: number; workerId: string; shards: number }[];
  model: Record<string, unknown>;
  data: { dataset: string; datasetId: string; trainSamples: number; valSamples: number; numClasses: number };
  train: Record<string, unknown>;
  epochs: Omit<EpochSummary, 'weightsHash'>[];
  final: FinalMetrics & { checkpoint: string | undefined };
  resumedFromEpoch: number;
  startedAt: string;
  finishedAt: string;
}

function resumePoint(job: JobSpec): { epoch: number; dir: string } {
  const root = job.checkpoint.dir;
  if (!root) throw new UserError('--resume needs checkpoint.dir (--checkpoint-dir)', 'checkpoint.dir');
  try {
    const latest = JSON.parse(readFileSync(join(root, 'latest.json'), 'utf8')) as { checkpoint: string; epoch: number };
    return { epoch: latest.epoch, dir: join(root, latest.checkpoint) };
  } catch {
    throw new UserError('no checkpoint to resume from (latest.json missing or unreadable)', root);
  }
}

export async function runCoordinator(o: RunCoordinatorOptions): Promise<DistributedReport> {
  const startedAt = new Date();
  const { job } = o;
  const dataset = await openDataset(job.data.dataset, { fashionMnistDir: job.data.fashionMnistDir });
  const { train, val } = splitTrainVal(dataset, {
    seed: job.train.seed,
    trainSamples: job.data.trainSamples,
    valSamples: job.data.valSamples,
  });
  const data = {
    dataset: dataset.name,
    datasetId: dataset.id,
    trainSamples: train.length,
    valSamples: val.length,
    numClasses: dataset.numClasses,
  };
  await dataset.close();
  // the freeze plan every worker derives too; announced epoch by epoch in the step plans
  const freeze = await planJob(job, train.length, data.numClasses);
  if (freeze.plan.policy.policy !== 'prefix') {
    const { blocks, paperSpeedup, cachedSpeedup } = freeze.preview;
    log().info('freeze schedule', { policy: freeze.plan.policy.policy, blocks, paperSpeedup, cachedSpeedup });
    if (process.stderr.isTTY) process.stderr.write(`${formatPreview(freeze.preview)}\n`);
  }
  const resume = o.resume ? resumePoint(job) : undefined;
  const startEpoch = (resume?.epoch ?? 0) + 1;
  const expected = Math.max(o.localWorkers, job.cluster.minWorkers);
  const progress = new Progress();
  const steps = new Map<string, number>();
  const onProgress = (id: string, p: { epoch: number; step: number; steps: number }) => {
    steps.set(id, p.step);
    progress.update(`epoch ${p.epoch}/${job.train.epochs}`, Math.min(...steps.values()), p.steps, { workers: steps.size });
  };
  const onEpoch = (s: EpochSummary) => {
    steps.clear();
    progress.milestone(`epoch ${s.epoch}/${job.train.epochs}`, {
      seconds: Math.round(s.seconds * 100) / 100,
      samplesPerSec: Math.round(s.samplesPerSec),
      wallSeconds: Math.round(s.wallSeconds * 100) / 100,
      trainLoss: Math.round(s.trainLoss * 1e4) / 1e4,
      valLoss: Math.round(s.valLoss * 1e4) / 1e4,
      valAccuracy: Math.round(s.valAccuracy * 1e4) / 1e4,
      cacheHits: s.cacheHits,
      cacheMisses: s.cacheMisses,
      samplesByRank: s.samplesByRank,
    });
  };
  const coordinator = new Coordinator({
    jobJson: JSON.stringify(job),
    epochs: job.train.epochs,
    globalBatch: job.train.batchSize,
    expectedWorkers: expected,
    minWorkers: Math.min(job.cluster.minWorkers, expected),
    joinTimeoutMs: job.cluster.joinTimeoutMs,
    heartbeatTimeoutMs: Math.max(8 * job.cluster.heartbeatMs, 3000),
    shardCount: defaultShardCount(train.length),
    trainIds: train,
    startEpoch,
    resumeFrom: resume?.dir ?? '',
    checkpointEveryEpoch: job.checkpoint.everyEpoch,
    freeze: freeze.plan,
    onProgress,
    onEpoch,
  });
  coordinator.done.catch(() => undefined);
  if (startEpoch > job.train.epochs) {
    throw new UserError(`the checkpoint is already at epoch ${resume?.epoch} of ${job.train.epochs}; nothing to resume`, '--resume');
  }
  const server = await startCoordinatorServer(o.listen, coordinator);
  log().info('coordinator listening', { address: server.address, workers: expected, epochs: job.train.epochs, startEpoch });
  o.onListening?.(server.address);
  const locals =
    o.localWorkers > 0 && o.spawnWorker
      ? new LocalWorkers(o.localWorkers, (i) => (o.spawnWorker as NonNullable<typeof o.spawnWorker>)(i, server.address))
      : undefined;
  if (locals) {
    locals.onUnexpectedExit = (i, code, signal) => coordinator.fail(`local worker ${i} exited (${signal ?? `code ${code}`})`);
  }
  try {
    const result = await coordinator.done;
    await locals?.stop();
    const last = result.epochs.at(-1);
    const report: DistributedReport = {
      backend: String(result.modelInfo.backend ?? ''),
      workers: result.members.length,
      members: result.members.map((m) => ({ rank: m.rank, workerId: m.workerId, shards: m.shards.length })),
      model: result.modelInfo,
      data,
      train: { ...job.train },
      epochs: result.epochs.map(({ weightsHash: _, ...rest }) => rest),
      final: { ...finalMetrics(result.epochs), checkpoint: last?.checkpoint },
      resumedFromEpoch: resume?.epoch ?? 0,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
    };
    if (o.reportPath) await writeFile(o.reportPath, `${JSON.stringify(report, null, 2)}\n`);
    return report;
  } catch (e) {
    await locals?.stop();
    throw e instanceof JobFailed ? e : new JobFailed((e as Error).message);
  } finally {
    progress.clear();
    await server.close();
  }
}

/**
 * `coordinator start`: read the job's data split and freeze plan, serve the coordinator, start
 * local workers if asked, drive the job, write the report, and clean up on every path. Resolves
 * with the report when the job is done; rejects with a PermafrostError naming the worker when it
 * is not.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defaultShardCount } from '@permafrost/data';
import { formatPreview } from '@permafrost/freeze';
import type { JobSpec } from '@permafrost/job';
import { log, PermafrostError, RunProgress, UserError } from '@permafrost/telemetry';
import { dataInfo, type EpochRecord, jobSplit, openJobDataset, planJob, type RunReport, resumePoint, runReport } from '@permafrost/trainer';
import { Coordinator, type CoordinatorOptions } from './coordinator';
import { FleetProgress } from './fleet-progress';
import type { CoordinatorServer, ServeCoordinator } from './handlers';
import { LocalWorkers, spawnLocalWorker } from './local-workers';

export interface RunCoordinatorOptions {
  job: JobSpec;
  /** HOST:PORT to listen on (port 0: any free port) */
  listen: string;
  /** serves the coordinator's handlers (libs/transport-grpc's startCoordinatorServer) */
  serve: ServeCoordinator;
  localWorkers: number;
  /** the CLI script local workers run (`permafrost worker start ...`) */
  workerEntry?: string;
  reportPath?: string;
  resume?: boolean;
  /** called once the server listens (tests and tools read the port from here) */
  onListening?: (address: string) => void;
}

/** What the coordinator needs to know about the job before any worker joins. */
async function jobPlan(job: JobSpec) {
  const dataset = await openJobDataset(job);
  const { train, val } = jobSplit(job, dataset);
  const data = dataInfo(dataset, train, val);
  await dataset.close();
  // the freeze plan every worker derives too; announced epoch by epoch in the step plans
  const freeze = await planJob(job, train.length, data.numClasses);
  if (freeze.plan.policy.policy !== 'prefix') {
    const { blocks, paperSpeedup, cachedSpeedup } = freeze.preview;
    log().info('freeze schedule', { policy: freeze.plan.policy.policy, blocks, paperSpeedup, cachedSpeedup });
    if (process.stderr.isTTY) process.stderr.write(`${formatPreview(freeze.preview)}\n`);
  }
  return { train, data, freeze };
}

function coordinatorOptions(
  o: RunCoordinatorOptions,
  jobId: string,
  plan: Awaited<ReturnType<typeof jobPlan>>,
  resumed: { epoch: number; dir: string } | undefined,
  progress: RunProgress,
): CoordinatorOptions {
  const { job } = o;
  const expected = Math.max(o.localWorkers, job.cluster.minWorkers);
  const fleet = new FleetProgress(progress, job.train.epochs);
  const c = job.cluster;
  return {
    jobId,
    jobJson: JSON.stringify(job),
    epochs: job.train.epochs,
    globalBatch: job.train.batchSize,
    stepsPerEpoch: plan.freeze.stepsPerEpoch,
    expectedWorkers: expected,
    minWorkers: Math.min(c.minWorkers, expected),
    maxWorkers: Math.max(c.maxWorkers ?? expected, expected),
    rejoinTimeoutMs: c.rejoinTimeoutMs,
    maxRestarts: c.maxRestarts,
    seed: job.train.seed,
    joinTimeoutMs: job.cluster.joinTimeoutMs,
    heartbeatMs: job.cluster.heartbeatMs,
    heartbeatTimeoutMs: job.cluster.heartbeatTimeoutMs,
    shardCount: defaultShardCount(plan.train.length),
    trainIds: plan.train,
    startEpoch: (resumed?.epoch ?? 0) + 1,
    resumeFrom: resumed?.dir ?? '',
    checkpointEveryEpoch: job.checkpoint.everyEpoch,
    freeze: plan.freeze.plan,
    onProgress: (id, p) => fleet.step(id, p),
    onEpoch: (r: EpochRecord) => fleet.epochDone(r),
    onMembership: (m) => fleet.regrouped(m.generation),
  };
}

function resumeFrom(job: JobSpec, resume: boolean | undefined): { epoch: number; dir: string } | undefined {
  if (!resume) return undefined;
  if (!job.checkpoint.dir) throw new UserError('--resume needs checkpoint.dir (--checkpoint-dir)', 'checkpoint.dir');
  const point = resumePoint(job.checkpoint.dir);
  if (point.epoch >= job.train.epochs) {
    throw new UserError(`the checkpoint is already at epoch ${point.epoch} of ${job.train.epochs}; nothing to resume`, '--resume');
  }
  return point;
}

export async function runCoordinator(o: RunCoordinatorOptions): Promise<RunReport> {
  const startedAt = new Date();
  const { job } = o;
  const jobId = job.cluster.jobId ?? randomUUID();
  const plan = await jobPlan(job);
  const resumed = resumeFrom(job, o.resume);
  const progress = new RunProgress();
  const coordinator = new Coordinator(coordinatorOptions(o, jobId, plan, resumed, progress));
  const server = await o.serve(o.listen, coordinator);
  log().info('coordinator listening', {
    address: server.address,
    jobId,
    workers: Math.max(o.localWorkers, job.cluster.minWorkers),
    epochs: job.train.epochs,
    startEpoch: (resumed?.epoch ?? 0) + 1,
  });
  o.onListening?.(server.address);
  const locals = startLocalWorkers(o, jobId, server, coordinator);
  try {
    const result = await coordinator.done;
    await locals?.stop();
    const members = result.members.map((m) => ({ rank: m.rank, workerId: m.workerId, shards: m.shards.length }));
    const backend = String(result.modelInfo.backend ?? '');
    const report = runReport({
      jobId,
      backend,
      model: result.modelInfo,
      data: plan.data,
      job,
      epochs: result.epochs,
      members,
      membership: result.membership,
      resumedFromEpoch: resumed?.epoch,
      startedAt,
    });
    if (o.reportPath) await writeFile(o.reportPath, `${JSON.stringify(report, null, 2)}\n`);
    return report;
  } catch (e) {
    await locals?.stop();
    throw e instanceof PermafrostError ? e : new PermafrostError('aborted', (e as Error).message);
  } finally {
    progress.clear();
    await server.close();
  }
}

function startLocalWorkers(
  o: RunCoordinatorOptions,
  jobId: string,
  server: CoordinatorServer,
  coordinator: Coordinator,
): LocalWorkers | undefined {
  if (o.localWorkers <= 0) return undefined;
  const spec = {
    entry: o.workerEntry ?? process.argv[1] ?? '',
    coordinator: server.address,
    jobId,
    cacheRoot: resolve(o.job.cache.dir),
    count: o.localWorkers,
  };
  const locals = new LocalWorkers(o.localWorkers, (i) => spawnLocalWorker(spec, i));
  // like torchrun's agent: a dead local worker starts again, same id and cache directory; its
  // session's end has already taken it out of the membership, and it joins the next generation
  const restarts = new Map<number, number>();
  locals.onUnexpectedExit = (i, code, signal) => {
    const n = (restarts.get(i) ?? 0) + 1;
    restarts.set(i, n);
    const how = signal ?? `code ${code}`;
    if (n > o.job.cluster.maxRestarts) {
      log().warn('local worker not restarted', {
        worker: `local-${i}`,
        exited: how,
        restarts: n - 1,
        maxRestarts: o.job.cluster.maxRestarts,
      });
      coordinator.lose(`local-${i}`, `exited (${how}) and was restarted ${n - 1} times already`);
      return;
    }
    log().warn('local worker restarted', { worker: `local-${i}`, exited: how, restart: n });
    locals.restart(i);
  };
  return locals;
}

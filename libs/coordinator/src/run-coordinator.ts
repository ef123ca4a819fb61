/**
 * `coordinator start`: read the job's data split and freeze plan, serve the coordinator, start
 * local workers if asked, drive the job, write the report, and clean up on every path. Resolves
 * with the report when the job is done; rejects with a PermafrostError naming the worker when it
 * is not, or a StoppedError when a signal stopped it (coordinator-stop.ts).
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defaultShardCount } from '@permafrost/data';
import { formatPreview } from '@permafrost/freeze';
import type { JobSpec } from '@permafrost/job';
import { FleetView, type ObserveServer, serveFleet, VERSION } from '@permafrost/observe';
import { log, PermafrostError, RunProgress, UserError } from '@permafrost/telemetry';
import {
  dataInfo,
  type EpochRecord,
  type FreezeSummary,
  jobSplit,
  openJobDataset,
  planJob,
  type RunReport,
  resumePoint,
  runReport,
} from '@permafrost/trainer';
import { Coordinator, type CoordinatorOptions } from './coordinator';
import { type CoordinatorSecurity, coordinatorSecurity } from './coordinator-security';
import { CoordinatorStop } from './coordinator-stop';
import { FleetProgress } from './fleet-progress';
import type { CoordinatorServer, ServeCoordinator } from './handlers';
import { jobIdFor, recordedJobId, writeJobRecord } from './job-record';
import { LocalWorkers, spawnLocalWorker } from './local-workers';
import { StatusWatch, withWatch } from './status-watch';

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

type JobPlan = Awaited<ReturnType<typeof jobPlan>>;

/** What the coordinator needs to know about the job before any worker joins. */
async function jobPlan(job: JobSpec) {
  const dataset = await openJobDataset(job);
  const { train, val } = jobSplit(job, dataset);
  const data = dataInfo(dataset, train, val);
  await dataset.close();
  // the freeze plan every worker derives too; announced epoch by epoch in the step plans
  const freeze = await planJob(job, train.length, data.numClasses);
  // a fixed boundary (prefix) and no freezing at all (none) have no schedule to announce
  if (freeze.plan.policy.policy !== 'prefix' && freeze.plan.policy.policy !== 'none') {
    const { blocks, paperSpeedup, cachedSpeedup } = freeze.preview;
    log().info('freeze schedule', { policy: freeze.plan.policy.policy, blocks, paperSpeedup, cachedSpeedup });
    if (process.stderr.isTTY) process.stderr.write(`${formatPreview(freeze.preview)}\n`);
  }
  return { train, data, freeze };
}

function coordinatorOptions(
  o: RunCoordinatorOptions,
  jobId: string,
  plan: JobPlan,
  resumed: { epoch: number; step: number; dir: string } | undefined,
  progress: RunProgress,
): CoordinatorOptions {
  const { job } = o;
  const expected = Math.max(o.localWorkers, job.cluster.minWorkers);
  const fleet = new FleetProgress(progress, job.train.epochs);
  const c = job.cluster;
  return {
    jobId,
    jobJson: JSON.stringify(workersJob(job)),
    epochs: job.train.epochs,
    globalBatch: job.train.batchSize,
    stepsPerEpoch: plan.freeze.stepsPerEpoch,
    expectedWorkers: expected,
    minWorkers: Math.min(c.minWorkers, expected),
    maxWorkers: Math.max(c.maxWorkers ?? expected, expected),
    rejoinTimeoutMs: c.rejoinTimeoutMs,
    maxRestarts: c.maxRestarts,
    maxWorkerFailures: c.maxWorkerFailures,
    seed: job.train.seed,
    joinTimeoutMs: job.cluster.joinTimeoutMs,
    heartbeatMs: job.cluster.heartbeatMs,
    heartbeatTimeoutMs: job.cluster.heartbeatTimeoutMs,
    shardCount: defaultShardCount(plan.train.length),
    trainIds: plan.train,
    takeBack: o.resume ?? false,
    startEpoch: (resumed?.epoch ?? 0) + 1,
    resumeFrom: resumed?.dir ?? '',
    resumeStep: resumed?.step ?? 0,
    checkpointEveryEpoch: job.checkpoint.everyEpoch,
    freeze: plan.freeze.plan,
    onProgress: (id, p) => fleet.step(id, p),
    onEpoch: (r: EpochRecord) => fleet.epochDone(r),
    onMembership: (m) => fleet.regrouped(m.generation),
  };
}

/** The job as workers get it: without the coordinator's own TLS files and token file. */
function workersJob(job: JobSpec): JobSpec {
  const { tls: _tls, tokenFile: _token, ...cluster } = job.cluster;
  return { ...job, cluster: { ...cluster } } as JobSpec;
}

function resumeFrom(job: JobSpec, resume: boolean | undefined): { epoch: number; step: number; dir: string } | undefined {
  if (!resume) return undefined;
  if (!job.checkpoint.dir) throw new UserError('--resume needs checkpoint.dir (--checkpoint-dir)', 'checkpoint.dir');
  let point: { epoch: number; step: number; dir: string };
  try {
    point = resumePoint(job.checkpoint.dir);
  } catch (e) {
    // lost before its first checkpoint: take the workers back, or start over if none come
    if (!(e instanceof UserError) || !recordedJobId(job.checkpoint.dir)) throw e;
    log().warn('no checkpoint yet: the job continues from the workers that come back, else from its start', {
      dir: job.checkpoint.dir,
    });
    return undefined;
  }
  if (point.epoch >= job.train.epochs) {
    throw new UserError(`the checkpoint is already at epoch ${point.epoch} of ${job.train.epochs}; nothing to resume`, '--resume');
  }
  return point;
}

export async function runCoordinator(o: RunCoordinatorOptions): Promise<RunReport> {
  const startedAt = new Date();
  const { job } = o;
  const jobId = jobIdFor(job, o.resume ?? false);
  writeJobRecord(job, jobId);
  const security = await coordinatorSecurity(job, jobId);
  try {
    return await runSecured(o, jobId, security, startedAt);
  } finally {
    await security.dispose();
  }
}

async function runSecured(o: RunCoordinatorOptions, jobId: string, security: CoordinatorSecurity, startedAt: Date): Promise<RunReport> {
  const { job } = o;
  const plan = await jobPlan(job);
  const resumed = resumeFrom(job, o.resume);
  const progress = new RunProgress();
  const coordinator = new Coordinator(coordinatorOptions(o, jobId, plan, resumed, progress));
  const view = fleetView(job, jobId, plan, (resumed?.epoch ?? 0) + 1, coordinator);
  const http = await serveHttp(o, view, security.serve.token);
  const watch = new StatusWatch({ events: coordinator.events, status: () => coordinator.status(), view: () => view.status() });
  const server = await o.serve(o.listen, withWatch(coordinator, watch), security.serve).catch(async (e: unknown) => {
    await http?.close();
    throw e;
  });
  log().info('coordinator listening', {
    address: server.address,
    jobId,
    tls: security.mode,
    workers: Math.max(o.localWorkers, job.cluster.minWorkers),
    epochs: job.train.epochs,
    startEpoch: (resumed?.epoch ?? 0) + 1,
  });
  o.onListening?.(server.address);
  const stop = new CoordinatorStop(coordinator);
  const locals = startLocalWorkers(o, jobId, server, coordinator, security);
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
      freeze: freezeSummary(plan),
      startedAt,
    });
    if (o.reportPath) await writeFile(o.reportPath, `${JSON.stringify(report, null, 2)}\n`);
    return report;
  } catch (e) {
    await locals?.stop();
    throw stop.outcome(e instanceof PermafrostError ? e : new PermafrostError('aborted', (e as Error).message));
  } finally {
    stop.dispose();
    progress.clear();
    watch.close();
    await server.close();
    await linger(job.observe.lingerMs, http);
  }
}

/** The job's view for the HTTP port, fed by the coordinator's events (docs/observability.md). */
function fleetView(job: JobSpec, jobId: string, plan: JobPlan, startEpoch: number, coordinator: Coordinator): FleetView {
  const { preview } = plan.freeze;
  const freeze =
    preview.policy === 'prefix'
      ? undefined
      : {
          policy: preview.policy,
          blocks: preview.blocks,
          events: plan.freeze.plan.events,
          paperSpeedup: preview.paperSpeedup,
          cachedSpeedup: preview.cachedSpeedup,
        };
  const view = new FleetView({
    jobId,
    epochs: job.train.epochs,
    stepsPerEpoch: plan.freeze.stepsPerEpoch,
    startEpoch,
    version: VERSION,
    freeze,
  });
  coordinator.events.on('membership', (m) => view.membership(m));
  coordinator.events.on('progress', (id, p) => view.progress(id, p));
  coordinator.events.on('epoch', (r) => view.epochDone(r));
  coordinator.events.on('state', (state, reason) => view.setState(state, reason));
  return view;
}

/** The freeze schedule for the view and the report; none for a fixed boundary or no freezing. */
function freezeSummary(plan: JobPlan): FreezeSummary | undefined {
  const { preview } = plan.freeze;
  if (preview.policy === 'prefix' || preview.policy === 'none') return undefined;
  return {
    policy: preview.policy,
    blocks: preview.blocks.map((b) => ({ block: b.block, freezeStep: b.freezeStep, freezeEpoch: b.freezeEpoch })),
    events: plan.freeze.plan.events.map((e) => ({ step: e.step, boundary: e.boundary })),
    paperSpeedup: preview.paperSpeedup,
    cachedSpeedup: preview.cachedSpeedup,
  };
}

/** Serves the HTTP port: observe.http, or loopback on any free port with local workers. */
async function serveHttp(o: RunCoordinatorOptions, view: FleetView, token: string | undefined): Promise<ObserveServer | undefined> {
  const listen = o.job.observe.http ?? (o.localWorkers > 0 ? '127.0.0.1:0' : undefined);
  if (!listen) return undefined;
  const http = await serveFleet(listen, view, o.job.observe.http ? '--http' : 'observe.http', { token, insecure: o.job.cluster.insecure });
  log().info('http listening', { address: http.address, dashboard: `http://${http.address}/`, metrics: `http://${http.address}/metrics` });
  return http;
}

/** Keeps the HTTP port up `lingerMs` after the job, so a scraper reads the final values; then closes it. */
async function linger(lingerMs: number, http: ObserveServer | undefined): Promise<void> {
  if (!http) return;
  if (lingerMs > 0) {
    log().info('http lingering', { address: http.address, lingerMs });
    await new Promise((r) => setTimeout(r, lingerMs));
  }
  await http.close();
}

function startLocalWorkers(
  o: RunCoordinatorOptions,
  jobId: string,
  server: CoordinatorServer,
  coordinator: Coordinator,
  security: CoordinatorSecurity,
): LocalWorkers | undefined {
  if (o.localWorkers <= 0) return undefined;
  const spec = {
    entry: o.workerEntry ?? process.argv[1] ?? '',
    coordinator: server.address,
    jobId,
    cacheRoot: resolve(o.job.cache.dir),
    count: o.localWorkers,
    tls: (i: number) => security.worker(i),
  };
  const locals = new LocalWorkers(o.localWorkers, (i) => spawnLocalWorker(spec, i));
  // like torchrun's agent: a dead local worker starts again, same id and cache directory; its
  // session's end has already taken it out of the membership, and it joins the next generation
  const restarts = new Map<number, number>();
  locals.onUnexpectedExit = (i, code, signal) => {
    const n = (restarts.get(i) ?? 0) + 1;
    restarts.set(i, n);
    const how = signal ?? `code ${code}`;
    if (coordinator.excluded(`local-${i}`)) {
      log().warn('local worker not restarted', { worker: `local-${i}`, exited: how, why: 'excluded (cluster.maxWorkerFailures)' });
      return;
    }
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

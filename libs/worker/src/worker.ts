/**
 * A worker process (docs/architecture.md#a-worker), an adapter from the coordinator's Session
 * messages to the training loop:
 *
 *   1. Serve the data plane (data-plane.ts) and join the coordinator (join.ts): rank, peers, the
 *      job spec, this worker's shards, the heartbeat period, the checkpoint to resume from.
 *   2. Build engine, dataset, model (seeded: every rank starts bit-identical, or from the same
 *      checkpoint on resume) and the training loop with the collective reducer, this worker's
 *      shards and its own cache directory.
 *   3. Hold the Session (worker-session.ts): every EpochPlan is one epoch of the loop
 *      (epoch-driver.ts); Halt and Regroup move the worker to a new generation (a worker that
 *      joined a running job starts on standby and enters at its first Regroup); Finish ends it,
 *      Abort fails it; a lost coordinator leaves it waiting, state kept, for a restarted one to
 *      take it back (coordinator-retry.ts), and fails it after `coordinatorGraceMs`.
 *   4. Leave, and log which path the gradients took (shared memory or the wire). SIGTERM or
 *      SIGINT leaves early, at the next step boundary (graceful-stop.ts), and the job goes on
 *      without this worker.
 *
 * With `http` set, the worker serves /healthz and /metrics there (WorkerObserver, libs/observe)
 * from start to end, and `lingerMs` longer, so a scraper reads the final values.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { create } from '@bufbuild/protobuf';
import type { CoordinatorClient } from '@permafrost/coordinator';
import { initEngine } from '@permafrost/engine';
import { type JobSpec, validateJob, type WorkerSettings } from '@permafrost/job';
import { type ObserveServer, serveWorker, VERSION, WorkerObserver } from '@permafrost/observe';
import { type JoinResponse, JoinResponseSchema, LeaveRequestSchema, type Regroup } from '@permafrost/proto';
import { type TlsFiles, tlsFilesOf } from '@permafrost/security';
import { type Logger, log, UserError } from '@permafrost/telemetry';
import { cacheOf, describeModel, loopOptionsOf, prepareRun, TrainingLoop } from '@permafrost/trainer';
import { createCoordinatorClient } from '@permafrost/transport-grpc';
import { holdSessions } from './coordinator-retry';
import { DataPlane } from './data-plane';
import { EpochDriver, type Place } from './epoch-driver';
import { GracefulStop } from './graceful-stop';
import { joinCoordinator } from './join';
import { RingReducer } from './ring-reducer';
import { testPause } from './test-pause';
import { TimedReducer } from './timed-reducer';
import { WorkerSession } from './worker-session';

/**
 * The worker's TLS files; without them it refuses to start (exit 2) unless `--insecure`
 * (docs/distributed.md#security).
 */
function workerTls(s: WorkerSettings): TlsFiles | undefined {
  const tls = tlsFilesOf({ ca: s.tlsCa, cert: s.tlsCert, key: s.tlsKey });
  if (tls) return tls;
  if (!s.insecure) {
    throw new UserError(
      'no TLS material: give --tls-ca, --tls-cert and --tls-key (make them with `permafrost certs init`), or pass --insecure to run unencrypted and unauthenticated',
    );
  }
  log().warn('insecure: this worker talks to the coordinator and its peers unencrypted and unauthenticated');
  return undefined;
}

export async function runWorker(settings: WorkerSettings): Promise<void> {
  const tls = workerTls(settings);
  const cacheDir = resolve(settings.cacheDir);
  const workerId = settings.id ?? `${hostname()}:${cacheDir}`;
  // the backend `auto` selects here goes into the Join request; the job's own choice follows it
  await initEngine('auto', { threads: settings.threads });
  const observer = new WorkerObserver(VERSION, cacheDir);
  const http = settings.http ? await serveWorker(settings.http, observer) : undefined;
  if (http) log().info('http listening', { address: http.address, metrics: `http://${http.address}/metrics` });
  try {
    await joinAndTrain(settings, tls, observer, workerId, cacheDir);
    observer.setState('finished');
  } catch (e) {
    observer.setState('failed');
    throw e;
  } finally {
    await linger(settings.lingerMs, http);
  }
}

async function joinAndTrain(
  settings: WorkerSettings,
  tls: TlsFiles | undefined,
  observer: WorkerObserver,
  workerId: string,
  cacheDir: string,
): Promise<void> {
  const plane = await DataPlane.start(settings, tls);
  const client = createCoordinatorClient(settings.coordinator, tls ? { tls } : {});
  try {
    const me = { workerId, jobId: settings.jobId ?? '', peerAddress: plane.peerAddress, dataAddress: plane.dataAddress };
    const joined = await joinCoordinator(client, me, settings.joinTimeoutMs);
    observer.setState('training');
    // from here a signal is a graceful stop: this worker is a member (graceful-stop.ts)
    const stop = new GracefulStop(client, workerId, log().child({ worker: workerId }));
    try {
      await train(settings, client, plane, joined, { workerId, cacheDir, observer, stop });
    } finally {
      stop.dispose();
    }
  } finally {
    client.close();
    await plane.close();
  }
}

/** Keeps the HTTP port up `lingerMs` after the job (a scraper reads the final values); then closes it. */
async function linger(lingerMs: number, http: ObserveServer | undefined): Promise<void> {
  if (!http) return;
  if (lingerMs > 0) await new Promise((r) => setTimeout(r, lingerMs));
  await http.close();
}

async function train(
  settings: WorkerSettings,
  client: CoordinatorClient,
  plane: DataPlane,
  joined: JoinResponse,
  me: { workerId: string; cacheDir: string; observer: WorkerObserver; stop: GracefulStop },
): Promise<void> {
  const { workerId, cacheDir, observer, stop } = me;
  const l = log().child({ worker: workerId, rank: joined.rank });
  const job: JobSpec = validateJob(JSON.parse(joined.jobSpecJson) as Record<string, unknown>, 'job spec from the coordinator');
  const run = await prepareRun(job);
  const { engine, dataset, model } = run;
  const gens = new Generations(plane, job, settings.collectiveTimeoutMs ?? job.cluster.collectiveTimeoutMs, l);
  const enter = (g: JoinResponse) => gens.enter(g);
  const regrouped = (r: Regroup, generation: bigint) => gens.regrouped(r, generation);
  const place: Place = { rank: joined.rank, worldSize: joined.worldSize, reducer: joined.standby ? undefined : enter(joined) };
  if (joined.standby) l.info('joining the running job', { shardCount: joined.shardCount });
  const session = new WorkerSession(client, joined.membership, workerId, settings.coordinator);
  let driver: EpochDriver | undefined;
  const loop = new TrainingLoop({
    ...loopOptionsOf(job, run),
    cache: cacheOf(job, cacheDir),
    reducer: place.reducer && new TimedReducer(place.reducer, observer),
    shards: { owned: joined.shards, count: joined.shardCount },
    commit: true,
    onEvent: (e) => driver?.onEvent(e),
  });
  try {
    if (joined.resumeFrom && !joined.standby) await loop.restore(joined.resumeFrom);
    // a worker on standby has no state of its own: its first Regroup copies a survivor's
    if (!joined.standby) await loop.commitStart();
    const pause = testPause(process.env.PERMAFROST_TEST_PAUSE, workerId, l);
    driver = new EpochDriver(loop, session, job, place, regrouped, observer, l, pause);
    const d = driver;
    d.onBoundary = () => stop.boundary();
    const modelInfo = { ...describeModel(job, model), backend: engine.backend };
    const hold = { ...holdOf(settings, client, plane, job, joined, workerId), driver: d, loop, modelInfo, logger: l, stop };
    const membership = await holdSessions(hold, session, joined, {
      plan: (p) => d.run(p),
      halt: (reason) => d.halt(reason),
      regroup: (r, generation) => d.regroup(r, generation),
      saveCommit: (reason) => d.saveCommit(reason),
    });
    await stop.settled();
    if (!stop.stopping) {
      const leave = create(LeaveRequestSchema, { membership, workerId, reason: 'finished' });
      await client.leave(leave, 2000).catch(() => undefined);
    }
    l.info('worker finished', { dataPlane: gens.stats, commits: commitCost(loop), ...(stop.stopping && { stopped: true }) });
  } finally {
    session.end();
    loop.trainer.dispose();
    await loop.close();
    await dataset.close();
  }
}

/** What the per-step commits cost, for the last log line. */
function commitCost(loop: TrainingLoop) {
  const { count, totalMs, maxMs } = loop.commits.cost;
  return { count, meanMs: Math.round((1000 * totalMs) / Math.max(count, 1)) / 1000, maxMs: Math.round(1000 * maxMs) / 1000 };
}

/** What holding the Session across a lost coordinator needs (coordinator-retry.ts), but the loop's parts. */
function holdOf(
  settings: WorkerSettings,
  client: CoordinatorClient,
  plane: DataPlane,
  job: JobSpec,
  joined: JoinResponse,
  workerId: string,
) {
  return {
    client,
    me: { workerId, jobId: settings.jobId ?? '', peerAddress: plane.peerAddress, dataAddress: plane.dataAddress },
    coordinator: settings.coordinator,
    graceMs: settings.coordinatorGraceMs ?? job.cluster.coordinatorGraceMs,
    job,
    jobSpecJson: joined.jobSpecJson,
  };
}

/** Each generation's transport (the data server retires the previous one's) and reducer. */
class Generations {
  private readonly retired = { sharedChunks: 0, wireChunks: 0 };
  private current = { sharedChunks: 0, wireChunks: 0 };

  constructor(
    private readonly plane: DataPlane,
    private readonly job: JobSpec,
    private readonly collectiveTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  enter(g: JoinResponse): RingReducer {
    const transport = this.plane.transport(this.job, g);
    this.retired.sharedChunks += this.current.sharedChunks;
    this.retired.wireChunks += this.current.wireChunks;
    this.current = transport.stats;
    const generation = Number(g.membership?.generation ?? 0n);
    this.logger.info('allreduce transport', { ...this.plane.describe(this.job, g.worldSize), generation });
    return new RingReducer(transport, this.collectiveTimeoutMs);
  }

  /** Chunks sent over every generation's transport so far. */
  get stats(): { sharedChunks: number; wireChunks: number } {
    return {
      sharedChunks: this.retired.sharedChunks + this.current.sharedChunks,
      wireChunks: this.retired.wireChunks + this.current.wireChunks,
    };
  }

  regrouped(r: Regroup, generation: bigint): RingReducer {
    const membership = { generation, jobId: this.job.cluster.jobId ?? '' };
    return this.enter(create(JoinResponseSchema, { rank: r.rank, worldSize: r.worldSize, peers: r.peers, membership }));
  }
}

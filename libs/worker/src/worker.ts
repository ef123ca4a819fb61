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
 *      Abort or a lost coordinator fails it within a bounded time.
 *   4. Leave, and log which path the gradients took (shared memory or the wire).
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { create } from '@bufbuild/protobuf';
import type { CoordinatorClient } from '@permafrost/coordinator';
import { initEngine } from '@permafrost/engine';
import { type JobSpec, validateJob, type WorkerSettings } from '@permafrost/job';
import { type JoinResponse, JoinResponseSchema, LeaveRequestSchema, type Regroup } from '@permafrost/proto';
import { type Logger, log } from '@permafrost/telemetry';
import { cacheOf, describeModel, loopOptionsOf, prepareRun, TrainingLoop } from '@permafrost/trainer';
import { createCoordinatorClient } from '@permafrost/transport-grpc';
import { DataPlane } from './data-plane';
import { EpochDriver, type Place } from './epoch-driver';
import { joinCoordinator } from './join';
import { RingReducer } from './ring-reducer';
import { WorkerSession } from './worker-session';

export async function runWorker(settings: WorkerSettings): Promise<void> {
  const cacheDir = resolve(settings.cacheDir);
  const workerId = settings.id ?? `${hostname()}:${cacheDir}`;
  // the backend `auto` selects here goes into the Join request; the job's own choice follows it
  await initEngine('auto', { threads: settings.threads });
  const plane = await DataPlane.start(settings);
  const client = createCoordinatorClient(settings.coordinator);
  try {
    const me = { workerId, jobId: settings.jobId ?? '', peerAddress: plane.peerAddress, dataAddress: plane.dataAddress };
    const joined = await joinCoordinator(client, me, settings.joinTimeoutMs);
    await train(settings, client, plane, joined, workerId, cacheDir);
  } finally {
    client.close();
    await plane.close();
  }
}

async function train(
  settings: WorkerSettings,
  client: CoordinatorClient,
  plane: DataPlane,
  joined: JoinResponse,
  workerId: string,
  cacheDir: string,
): Promise<void> {
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
    reducer: place.reducer,
    shards: { owned: joined.shards, count: joined.shardCount },
    commit: true,
    onEvent: (e) => driver?.onEvent(e),
  });
  try {
    if (joined.resumeFrom && !joined.standby) await loop.restore(joined.resumeFrom);
    // a worker on standby has no state of its own: its first Regroup copies a survivor's
    if (!joined.standby) await loop.commitStart();
    driver = new EpochDriver(loop, session, job, place, regrouped, l);
    const modelInfo = { ...describeModel(job, model), backend: engine.backend };
    const beat = {
      heartbeatMs: joined.heartbeatMs || job.cluster.heartbeatMs,
      heartbeatTimeoutMs: joined.heartbeatTimeoutMs || job.cluster.heartbeatTimeoutMs,
    };
    const d = driver;
    await session.run(modelInfo, beat, {
      plan: (p) => d.run(p),
      halt: (reason) => d.halt(reason),
      regroup: (r, generation) => d.regroup(r, generation),
    });
    const leave = create(LeaveRequestSchema, { membership: joined.membership, workerId, reason: 'finished' });
    await client.leave(leave, 2000).catch(() => undefined);
    const { count, totalMs, maxMs } = loop.commits.cost;
    const commits = { count, meanMs: Math.round((1000 * totalMs) / Math.max(count, 1)) / 1000, maxMs: Math.round(1000 * maxMs) / 1000 };
    l.info('worker finished', { dataPlane: gens.stats, commits });
  } finally {
    session.end();
    loop.trainer.dispose();
    await loop.close();
    await dataset.close();
  }
}

/** Each generation's transport (the data server retires the previous one's) and reducer. */
class Generations {
  stats = { sharedChunks: 0, wireChunks: 0 };

  constructor(
    private readonly plane: DataPlane,
    private readonly job: JobSpec,
    private readonly collectiveTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  enter(g: JoinResponse): RingReducer {
    const transport = this.plane.transport(this.job, g);
    this.stats = transport.stats;
    const generation = Number(g.membership?.generation ?? 0n);
    this.logger.info('allreduce transport', { ...this.plane.describe(this.job, g.worldSize), generation });
    return new RingReducer(transport, this.collectiveTimeoutMs);
  }

  regrouped(r: Regroup, generation: bigint): RingReducer {
    const membership = { generation, jobId: this.job.cluster.jobId ?? '' };
    return this.enter(create(JoinResponseSchema, { rank: r.rank, worldSize: r.worldSize, peers: r.peers, membership }));
  }
}

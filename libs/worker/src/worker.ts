/**
 * A worker process: the data plane.
 *
 *   1. Serve the data plane: the TCP data server (ring neighbours stream allreduce chunks to it when
 *      the job's cluster.transport is tcp, the default) and the gRPC Peer service (when it is grpc).
 *   2. Join the coordinator (retried while it is not up yet, bounded by `joinTimeoutMs`); get rank,
 *      peers, the job spec and this worker's shards.
 *   3. Build engine, dataset, model (seeded: every rank starts bit-identical, or from the same
 *      checkpoint on resume) and the activation cache in this worker's cache directory.
 *   4. Hold the Session stream: Hello, heartbeats every `heartbeatMs`, then for every EpochPlan
 *      train the epoch with the other ranks and send the EpochResult (rank 0 also checkpoints).
 *   5. Finish: leave and return. Abort, or a broken stream (the coordinator is gone): throw
 *      WorkerError within a bounded time, never hang.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { Transport } from '@permafrost/collective';
import { type JobSpec, validateJob } from '@permafrost/job';
import {
  type EpochPlan,
  JoinRequestSchema,
  type JoinResponse,
  LeaveRequestSchema,
  MembershipSchema,
  SessionRequestSchema,
} from '@permafrost/proto';
import { log } from '@permafrost/telemetry';
import {
  describeModel,
  FreezeController,
  freezePlanFor,
  freezePolicy,
  prefixRecipe,
  prepareRun,
  readCheckpointMeta,
  restoreCheckpoint,
  stepsPerEpoch,
  writeCheckpoint,
} from '@permafrost/trainer';
import {
  type CoordinatorClient,
  createCoordinatorClient,
  type PeerServer,
  RpcError,
  type SessionClientStream,
  startPeerServer,
} from '@permafrost/transport-grpc';
import {
  type DataServer,
  SHARED_MEMORY_BYTES,
  sharedMemoryUnavailable,
  startDataServer,
  type TcpTransport,
} from '@permafrost/transport-tcp';
import { RingReducer } from './ring-reducer';
import { type EpochContext, runWorkerEpoch } from './worker-epoch';

export interface WorkerOptions {
  /** coordinator HOST:PORT */
  coordinator: string;
  /** Peer service address (default 127.0.0.1:0: loopback, any free port) */
  listen?: string;
  /** the address peers dial; default: the bound listen address */
  advertise?: string;
  /** TCP data plane address (default: the host of `listen`, any free port) */
  dataListen?: string;
  /** the data address peers dial; default: the host of `advertise` with the bound data port, else the bound data address */
  dataAdvertise?: string;
  cacheDir?: string;
  /** stable id (default: host name + cache directory) */
  id?: string;
  joinTimeoutMs?: number;
  heartbeatMs?: number;
  /** deadline of each allreduce receive (default 20000 ms) */
  collectiveTimeoutMs?: number;
  /** shared segment per data connection to a rank on this host (default SHARED_MEMORY_BYTES, 8 MiB; 0: values over TCP) */
  sharedMemoryBytes?: number;
}

export class WorkerError extends Error {
  override readonly name = 'WorkerError';
}

async function joinWithRetry(
  client: CoordinatorClient,
  req: Parameters<CoordinatorClient['join']>[0],
  timeoutMs: number,
): Promise<JoinResponse> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0) throw new WorkerError(`could not join the coordinator within ${timeoutMs} ms`);
    try {
      return await client.join(req, left);
    } catch (e) {
      if (e instanceof RpcError && e.code === 'unavailable' && attempt < 10_000) {
        await new Promise((r) => setTimeout(r, Math.min(250, Math.max(10, deadline - Date.now()))));
        continue;
      }
      throw new WorkerError(`join refused: ${(e as Error).message}`);
    }
  }
}

export async function runWorker(opts: WorkerOptions): Promise<void> {
  const cacheDir = resolve(opts.cacheDir ?? '.permafrost/cache');
  const workerId = opts.id ?? `${hostname()}:${cacheDir}`;
  const heartbeatMs = opts.heartbeatMs ?? 1000;
  const listen = opts.listen ?? '127.0.0.1:0';
  const peer = await startPeerServer({ listen });
  const sharedMemoryBytes = opts.sharedMemoryBytes ?? SHARED_MEMORY_BYTES;
  const data = await startDataServer({ listen: opts.dataListen ?? `${hostOf(listen)}:0`, sharedMemoryBytes }).catch(async (e) => {
    await peer.close();
    throw e;
  });
  const client = createCoordinatorClient(opts.coordinator);
  let session: SessionClientStream | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    const joined = await joinWithRetry(
      client,
      create(JoinRequestSchema, {
        workerId,
        peerAddress: opts.advertise ?? peer.address,
        dataAddress: opts.dataAdvertise ?? (opts.advertise ? `${hostOf(opts.advertise)}:${portOf(data.address)}` : data.address),
        backend: '',
      }),
      opts.joinTimeoutMs ?? 60_000,
    );
    const membership = joined.membership;
    const generation = membership?.generation ?? 0n;
    const l = log().child({ worker: workerId, rank: joined.rank });
    const job: JobSpec = validateJob(JSON.parse(joined.jobSpecJson) as Record<string, unknown>, 'job spec from the coordinator');
    const { engine, dataset, train, val, model } = await prepareRun(job);
    const perEpoch = stepsPerEpoch(train.length, job.train.batchSize);
    const plan = freezePlanFor(model, freezePolicy(job.freeze), perEpoch * job.train.epochs);
    const ctl = new FreezeController({
      model,
      dataset,
      plan,
      optimizer: job.train,
      cache: job.cache.enabled
        ? { dir: cacheDir, codec: job.cache.codec, modelName: job.model.name, recipe: prefixRecipe(job) }
        : undefined,
    });
    if (joined.resumeFrom) {
      const meta = await readCheckpointMeta(joined.resumeFrom);
      await restoreCheckpoint(joined.resumeFrom, model.full, ctl.trainer, () => ctl.seek(meta.step));
    }
    const transport = ringTransport(job, joined, generation, { peer, data });
    l.info('allreduce transport', {
      transport: job.cluster.transport,
      worldSize: joined.worldSize,
      ...(job.cluster.transport === 'tcp'
        ? {
            sharedMemory:
              sharedMemoryBytes === 0
                ? 'off'
                : (sharedMemoryUnavailable() ?? `${sharedMemoryBytes} bytes per connection to a rank on this host`),
          }
        : {}),
    });
    const ctx: EpochContext = {
      ctl,
      reducer: new RingReducer(transport, opts.collectiveTimeoutMs ?? 20_000),
      trainIds: train,
      valIds: val,
      seed: job.train.seed,
      shards: joined.shards,
      shardCount: joined.shardCount,
      batchSize: job.train.batchSize,
    };
    const modelInfo = { ...describeModel(job, model), backend: engine.backend };

    const s = client.session();
    session = s;
    const send = (event: MessageInitShape<typeof SessionRequestSchema>) => {
      const msg = create(SessionRequestSchema, event);
      msg.membership = create(MembershipSchema, { generation, jobId: membership?.jobId ?? '' });
      msg.workerId = workerId;
      s.send(msg);
    };
    await new Promise<void>((done, fail) => {
      let finished = false;
      let queue = Promise.resolve();
      s.onClose((error) => {
        if (!finished) fail(new WorkerError(`lost the coordinator at ${opts.coordinator}${error ? `: ${error.message}` : ''}`));
      });
      s.onMessage((m) => {
        const c = m.command;
        if (c.case === 'finish') {
          finished = true;
          queue.then(() => done(), fail);
        } else if (c.case === 'abort') {
          finished = true;
          fail(new WorkerError(`the coordinator aborted the job: ${c.value.reason}`));
        } else if (c.case === 'epoch') {
          const plan: EpochPlan = c.value;
          queue = queue
            .then(() => epoch(plan))
            .catch((e: unknown) => {
              const message = e instanceof Error ? e.message : String(e);
              send({ event: { case: 'failure', value: { message } } });
              fail(e instanceof Error ? e : new WorkerError(message));
            });
        }
      });
      const epoch = async (plan: EpochPlan) => {
        let lastProgress = 0;
        ctx.onStep = (step, steps, samples, lossSum, cnt) => {
          const now = Date.now();
          if (now - lastProgress < 1000 && step < steps) return;
          lastProgress = now;
          send({
            event: {
              case: 'progress',
              value: { epoch: plan.epoch, step, steps, samples, lossSum, cacheHits: cnt.hits, cacheMisses: cnt.misses },
            },
          });
        };
        const r = await runWorkerEpoch(ctx, plan.epoch, plan.globalBatch, plan.freezeEvents);
        let checkpointDir = '';
        if (joined.rank === 0 && plan.checkpoint) {
          const name = plan.epoch === plan.epochs ? 'final' : `epoch-${String(plan.epoch).padStart(4, '0')}`;
          checkpointDir = await writeCheckpoint(job.checkpoint.dir ?? '.permafrost/checkpoints', name, model.full, ctl.trainer.optimizers, {
            epoch: plan.epoch,
            step: plan.epoch * plan.steps,
            boundary: ctl.boundary,
            valAccuracy: r.valCount > 0 ? r.valCorrect / r.valCount : Number.NaN,
            workers: joined.worldSize,
            job,
          });
        }
        await ctl.recordUsage(r.counters);
        l.info('epoch done', { epoch: plan.epoch, samples: r.samples, seconds: Math.round(r.seconds * 100) / 100 });
        send({
          event: {
            case: 'epochResult',
            value: {
              epoch: plan.epoch,
              samples: r.samples,
              trainLossSum: r.trainLossSum,
              valLossSum: r.valLossSum,
              valCorrect: r.valCorrect,
              valCount: r.valCount,
              cacheHits: r.counters.hits,
              cacheMisses: r.counters.misses,
              cacheBytesRead: BigInt(Math.round(r.counters.bytesRead)),
              cacheBytesWritten: BigInt(Math.round(r.counters.bytesWritten)),
              seconds: r.seconds,
              valSeconds: r.valSeconds,
              weightsHash: r.weightsHash,
              sampleIds: r.sampleIds,
              checkpointDir,
              trainableLayers: ctl.trainableLayers,
              boundary: ctl.boundary,
            },
          },
        });
      };
      send({ event: { case: 'hello', value: { modelInfoJson: JSON.stringify(modelInfo) } } });
      heartbeat = setInterval(() => send({ event: { case: 'heartbeat', value: { sentAtMs: BigInt(Date.now()) } } }), heartbeatMs);
    });
    ctl.trainer.dispose();
    await ctl.close();
    await dataset.close();
    await client.leave(create(LeaveRequestSchema, { membership, workerId, reason: 'finished' }), 2000).catch(() => undefined);
    // which path the gradients took: shared memory between ranks of this host, or the wire
    l.info('worker finished', 'stats' in transport ? { dataPlane: (transport as TcpTransport).stats } : {});
  } finally {
    clearInterval(heartbeat);
    session?.end();
    client.close();
    await Promise.all([peer.close(), data.close()]);
  }
}

const hostOf = (address: string) => address.slice(0, address.lastIndexOf(':'));
const portOf = (address: string) => address.slice(address.lastIndexOf(':') + 1);

/** The transport the job asks for, over the ranks the coordinator announced. */
function ringTransport(job: JobSpec, joined: JoinResponse, generation: bigint, servers: { peer: PeerServer; data: DataServer }): Transport {
  const { rank, worldSize, peers } = joined;
  if (job.cluster.transport === 'grpc') {
    return servers.peer.transport(
      rank,
      worldSize,
      peers.map((p) => p.address),
      generation,
    );
  }
  const missing = peers.filter((p) => !p.dataAddress);
  if (missing.length > 0) {
    throw new WorkerError(
      `cluster.transport is tcp but ${missing.map((p) => `rank ${p.rank} (worker ${p.workerId})`).join(', ')} announced no data address (a worker of an older version?); use cluster.transport: grpc or upgrade it`,
    );
  }
  return servers.data.transport(
    rank,
    worldSize,
    peers.map((p) => p.dataAddress),
    peers.map((p) => p.workerId),
    generation,
  );
}

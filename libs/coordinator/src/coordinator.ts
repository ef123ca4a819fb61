/**
 * The coordinator: the control plane of a distributed job (docs/architecture.md#the-control-plane).
 *
 *   1. Join: workers block in Join until the membership forms (membership.ts). The answer carries
 *      the job id, rank, peers, shards, the job spec, the heartbeat period and the checkpoint to
 *      resume from. A worker started for another job is refused, naming both job ids.
 *   2. Session: each worker opens one bidirectional stream and says Hello. When every rank has,
 *      the coordinator sends EpochPlan(e) to all.
 *   3. Workers train the epoch among themselves (the allreduce never passes through here), sending
 *      heartbeats and progress up, then one EpochResult each.
 *   4. With every result in: the trainable-weight hashes must agree (replica identity) and the
 *      trained sample ids must be exactly the training set (exactly once); the epoch's record is
 *      computed and reported; then EpochPlan(e + 1), or Finish after the last epoch.
 *
 * Every message must carry this job's id, the current generation and a member's worker id, or the
 * stream is ended with FAILED_PRECONDITION / NOT_FOUND. Heartbeats go both ways every
 * `heartbeatMs`. A worker whose stream breaks, or who sends nothing for `heartbeatTimeoutMs`,
 * fails the job: every session gets Abort, and `done` rejects naming it.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  type EpochResult,
  type JoinRequest,
  type JoinResponse,
  JoinResponseSchema,
  type LeaveRequest,
  type LeaveResponse,
  LeaveResponseSchema,
  MembershipSchema,
  PeerInfoSchema,
  type SessionRequest,
  SessionResponseSchema,
  type StatusResponse,
  StatusResponseSchema,
  type StepProgress,
} from '@permafrost/proto';
import { log, PermafrostError } from '@permafrost/telemetry';
import { type EpochRecord, epochRecord, type RankEpoch } from '@permafrost/trainer';
import { CoordinatorEvents, type JobState } from './coordinator-events';
import { checkEpoch } from './epoch-checks';
import type { Caller, CoordinatorHandlers, SessionStream } from './handlers';
import { type Formed, type Member, Membership, MembershipError } from './membership';
import { decodeRankEpoch } from './session-codec';

const peerInfo = (m: Member) =>
  create(PeerInfoSchema, { rank: m.rank, workerId: m.workerId, address: m.peerAddress, dataAddress: m.dataAddress ?? '' });

export interface CoordinatorOptions {
  /** this job's id: every message must carry it */
  jobId: string;
  jobJson: string;
  epochs: number;
  globalBatch: number;
  stepsPerEpoch: number;
  expectedWorkers: number;
  minWorkers: number;
  joinTimeoutMs: number;
  /** the workers' heartbeat period, sent to them in the Join answer */
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  shardCount: number;
  /** the training sample ids, for exactly-once accounting */
  trainIds: readonly number[];
  /** first epoch to run (1, or the one after a resumed checkpoint) */
  startEpoch: number;
  /** the checkpoint directory workers restore from ('' for a fresh job) */
  resumeFrom: string;
  /** write a checkpoint at every epoch end (always at the last) */
  checkpointEveryEpoch: boolean;
  /** the freeze plan whose boundary events every epoch plan announces (default: none) */
  freeze?: { boundaryAt(step: number): string; events: readonly { step: number; boundary: string }[] };
  onEpoch?: (r: EpochRecord) => void;
  onProgress?: (workerId: string, p: StepProgress) => void;
}

export interface CoordinatorResult {
  epochs: EpochRecord[];
  members: Formed['members'];
  modelInfo: Record<string, unknown>;
}

export class Coordinator implements CoordinatorHandlers {
  private readonly membership: Membership;
  private readonly sessions = new Map<string, SessionStream>();
  private readonly lastSeen = new Map<string, number>();
  private readonly hello = new Set<string>();
  private results = new Map<string, EpochResult>();
  private epoch = 0;
  private epochStarted = 0;
  private formedAt = 0;
  private readonly records: EpochRecord[] = [];
  private modelInfo: Record<string, unknown> = {};
  private state: JobState = 'joining';
  /** membership, progress, epoch and state events, for observers */
  readonly events = new CoordinatorEvents();
  private watchdog: NodeJS.Timeout | undefined;
  private beat: NodeJS.Timeout | undefined;
  private resolveDone!: (r: CoordinatorResult) => void;
  private rejectDone!: (e: Error) => void;
  /** settles when the job finishes (resolve) or fails (reject with a PermafrostError) */
  readonly done: Promise<CoordinatorResult>;

  constructor(private readonly opts: CoordinatorOptions) {
    this.membership = new Membership({
      expected: opts.expectedWorkers,
      minWorkers: opts.minWorkers,
      joinTimeoutMs: opts.joinTimeoutMs,
      shardCount: opts.shardCount,
    });
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
  }

  async join(req: JoinRequest, caller: Caller = {}): Promise<JoinResponse> {
    try {
      return await this.admit(req, caller.identity?.name);
    } catch (e) {
      log().warn('join refused', { worker: req.workerId, peer: req.peerAddress, reason: (e as Error).message });
      throw e;
    }
  }

  private async admit(req: JoinRequest, identity: string | undefined): Promise<JoinResponse> {
    if (!req.workerId) throw new PermafrostError('invalid-argument', 'worker_id is required');
    if (!req.peerAddress) throw new PermafrostError('invalid-argument', 'peer_address is required');
    if (req.jobId && req.jobId !== this.opts.jobId) {
      throw new PermafrostError(
        'failed-precondition',
        `worker ${req.workerId} was started for job ${req.jobId}, but this coordinator runs job ${this.opts.jobId}`,
      );
    }
    let formed: Formed;
    try {
      formed = await this.membership.join({
        workerId: req.workerId,
        peerAddress: req.peerAddress,
        dataAddress: req.dataAddress,
        backend: req.backend,
        identity,
      });
    } catch (e) {
      if (e instanceof MembershipError && e.code === 'deadline-exceeded') this.fail(e.message);
      throw e;
    }
    if (this.state === 'joining') this.startRunning(formed);
    const me = formed.members.find((m) => m.workerId === req.workerId);
    if (!me) throw new PermafrostError('internal', 'joined but not a member');
    log().info('worker joined', { worker: me.workerId, rank: me.rank, peer: me.peerAddress, data: me.dataAddress, backend: me.backend });
    return create(JoinResponseSchema, {
      membership: { generation: formed.generation, jobId: this.opts.jobId },
      rank: me.rank,
      worldSize: formed.members.length,
      peers: formed.members.map(peerInfo),
      jobSpecJson: this.opts.jobJson,
      shards: me.shards,
      shardCount: this.opts.shardCount,
      resumeFrom: this.opts.resumeFrom,
      heartbeatMs: this.opts.heartbeatMs,
      heartbeatTimeoutMs: this.opts.heartbeatTimeoutMs,
    });
  }

  private startRunning(formed: Formed): void {
    this.setState('running');
    this.events.emit('membership', { generation: formed.generation, members: formed.members, reason: 'formed' });
    this.formedAt = Date.now();
    this.watchdog = setInterval(() => this.checkHeartbeats(), Math.min(500, this.opts.heartbeatTimeoutMs / 4));
    // heartbeats down too: a worker notices a coordinator that stopped answering (docs/distributed.md#failures)
    this.beat = setInterval(
      () => this.broadcast({ command: { case: 'heartbeat', value: { sentAtMs: BigInt(Date.now()) } } }),
      this.opts.heartbeatMs,
    );
  }

  session(stream: SessionStream): void {
    let workerId: string | undefined;
    stream.onMessage((m: SessionRequest) => {
      const problem = this.validate(m, stream, workerId);
      if (problem) {
        log().warn('session message refused', { peer: stream.peer, worker: m.workerId, reason: problem.message });
        stream.end(problem);
        return;
      }
      if (workerId === undefined) {
        workerId = m.workerId;
        this.sessions.set(m.workerId, stream);
      }
      this.lastSeen.set(m.workerId, Date.now());
      this.onMessage(m);
    });
    stream.onClose((error: Error | undefined) => {
      if (!workerId || this.state !== 'running') return;
      if (this.sessions.get(workerId) !== stream) return;
      this.sessions.delete(workerId);
      this.fail(`worker ${this.describe(workerId)} disconnected${error ? `: ${error.message}` : ''}`);
    });
  }

  /**
   * Whether `m` may be handled: of this job and generation, from a member, on the stream that
   * member opened with the certificate it joined with. A second stream for a member is refused,
   * never swapped in; no refusal names another worker.
   */
  private validate(m: SessionRequest, stream: SessionStream, streamOf: string | undefined): PermafrostError | undefined {
    const problem = this.checkMember(m.membership, m.workerId, stream.caller?.identity?.name);
    if (problem) return problem;
    if (streamOf !== undefined && m.workerId !== streamOf) {
      return new PermafrostError('permission-denied', `this session belongs to worker '${streamOf}'`);
    }
    if (streamOf === undefined && this.sessions.has(m.workerId)) {
      return new PermafrostError('already-exists', `worker '${m.workerId}' already has a session`);
    }
    return undefined;
  }

  /** Whether a call of job and generation `membership` may act for `workerId`, presented by `identity`. */
  private checkMember(
    membership: { generation: bigint; jobId: string } | undefined,
    workerId: string,
    identity: string | undefined,
  ): PermafrostError | undefined {
    const m = { membership, workerId };
    const formed = this.membership.formed;
    if (!formed) return new PermafrostError('failed-precondition', 'the membership has not formed yet; call Join first');
    const jobId = m.membership?.jobId ?? '';
    if (jobId !== this.opts.jobId) {
      return new PermafrostError(
        'failed-precondition',
        `message of job ${jobId || '(none)'}, but this coordinator runs job ${this.opts.jobId}`,
      );
    }
    const gen = m.membership?.generation;
    if (gen !== formed.generation) {
      return new PermafrostError(
        'failed-precondition',
        `generation ${gen ?? 'missing'} is not the current generation ${formed.generation}`,
      );
    }
    if (!formed.members.some((x) => x.workerId === m.workerId)) return new PermafrostError('not-found', `unknown worker '${m.workerId}'`);
    if (this.membership.identityOf(m.workerId) !== identity) {
      return new PermafrostError('permission-denied', `worker '${m.workerId}' joined with another certificate`);
    }
    return undefined;
  }

  private describe(workerId: string): string {
    const m = this.membership.formed?.members.find((x) => x.workerId === workerId);
    return m ? `${workerId} (rank ${m.rank})` : workerId;
  }

  private onMessage(m: SessionRequest): void {
    const e = m.event;
    if (e.case === 'hello') {
      this.hello.add(m.workerId);
      if (e.value.modelInfoJson) this.modelInfo = JSON.parse(e.value.modelInfoJson) as Record<string, unknown>;
      if (this.hello.size === this.membership.formed?.members.length && this.epoch === 0) this.plan(this.opts.startEpoch);
    } else if (e.case === 'progress') {
      this.opts.onProgress?.(m.workerId, e.value);
      this.events.emit('progress', m.workerId, e.value);
    } else if (e.case === 'epochResult') {
      if (e.value.epoch !== this.epoch) {
        this.fail(`worker ${this.describe(m.workerId)} reported epoch ${e.value.epoch} during epoch ${this.epoch}`);
        return;
      }
      this.results.set(m.workerId, e.value);
      if (this.results.size === this.membership.formed?.members.length) this.finishEpoch();
    } else if (e.case === 'failure') {
      this.fail(`worker ${this.describe(m.workerId)} failed: ${e.value.message}`);
    }
  }

  private broadcast(command: MessageInitShape<typeof SessionResponseSchema>): void {
    const msg = create(SessionResponseSchema, command);
    msg.membership = create(MembershipSchema, { generation: this.membership.formed?.generation ?? 0n, jobId: this.opts.jobId });
    for (const s of this.sessions.values()) s.send(msg);
  }

  private plan(epoch: number): void {
    this.epoch = epoch;
    this.epochStarted = performance.now();
    this.results = new Map();
    const steps = this.opts.stepsPerEpoch;
    const first = (epoch - 1) * steps;
    const freezeEvents = (this.opts.freeze?.events ?? [])
      .filter((e) => e.step >= first && e.step < first + steps)
      .map((e) => ({ step: e.step, boundary: e.boundary }));
    const checkpoint = epoch === this.opts.epochs || this.opts.checkpointEveryEpoch;
    const boundary = this.opts.freeze?.boundaryAt(first) ?? '';
    this.broadcast({
      command: {
        case: 'epoch',
        value: { epoch, epochs: this.opts.epochs, steps, globalBatch: this.opts.globalBatch, boundary, checkpoint, freezeEvents },
      },
    });
  }

  private finishEpoch(): void {
    const formed = this.membership.formed;
    if (!formed) return;
    const decoded = formed.members.map((m) => decodeRankEpoch(this.results.get(m.workerId) as EpochResult));
    const ranks: RankEpoch[] = decoded.map((d) => d.rank);
    const problem = checkEpoch(this.epoch, ranks, this.opts.trainIds);
    if (problem) {
      this.fail(problem);
      return;
    }
    const checkpoint = decoded.find((d) => d.checkpointDir)?.checkpointDir;
    const record = epochRecord(ranks, (performance.now() - this.epochStarted) / 1000, checkpoint);
    this.records.push(record);
    this.opts.onEpoch?.(record);
    this.events.emit('epoch', record);
    if (this.epoch < this.opts.epochs) {
      this.plan(this.epoch + 1);
      return;
    }
    this.setState('finished');
    this.broadcast({ command: { case: 'finish', value: {} } });
    this.stop();
    this.resolveDone({ epochs: this.records, members: formed.members, modelInfo: this.modelInfo });
  }

  private checkHeartbeats(): void {
    if (this.state !== 'running') return;
    const now = Date.now();
    // Building the model and opening the cache happen between Join and Hello: that phase is
    // bounded by the join timeout, the heartbeat timeout applies once a session is up.
    const silent = this.membership.formed?.members.filter((m) => !this.hello.has(m.workerId)) ?? [];
    if (silent.length > 0 && now - this.formedAt > this.opts.joinTimeoutMs) {
      this.fail(
        `worker ${this.describe(silent[0]?.workerId ?? '')} joined but never opened its session within ${this.opts.joinTimeoutMs} ms`,
      );
      return;
    }
    for (const [id, t] of this.lastSeen) {
      if (now - t > this.opts.heartbeatTimeoutMs) {
        this.fail(`worker ${this.describe(id)} stopped answering (no heartbeat for ${now - t} ms)`);
        return;
      }
    }
  }

  /** Fails the job: every session gets Abort with the reason. Idempotent. */
  fail(reason: string): void {
    if (this.state === 'failed' || this.state === 'finished') return;
    this.setState('failed', reason);
    log().error('job failed', { reason });
    this.broadcast({ command: { case: 'abort', value: { reason } } });
    for (const s of this.sessions.values()) s.end();
    this.membership.fail(new MembershipError(reason, 'failed-precondition'));
    this.stop();
    this.rejectDone(new PermafrostError('aborted', reason));
  }

  private setState(state: JobState, reason?: string): void {
    this.state = state;
    this.events.emit('state', state, reason);
  }

  private stop(): void {
    clearInterval(this.watchdog);
    clearInterval(this.beat);
    this.membership.close();
  }

  /**
   * A worker leaves: while the job runs that fails it, so the Leave must come from a member of this
   * job and generation with its own certificate; before the membership forms, only the
   * certificate a worker joined with can withdraw it.
   */
  async leave(req: LeaveRequest, caller: Caller = {}): Promise<LeaveResponse> {
    const identity = caller.identity?.name;
    if (this.state === 'running') {
      const problem = this.checkMember(req.membership, req.workerId, identity);
      if (problem) throw problem;
      this.fail(`worker ${this.describe(req.workerId)} left: ${req.reason || 'no reason given'}`);
    } else if (this.state === 'joining' && this.membership.identityOf(req.workerId) === identity) {
      this.membership.withdraw(req.workerId);
    }
    return create(LeaveResponseSchema, {});
  }

  async status(): Promise<StatusResponse> {
    const formed = this.membership.formed;
    return create(StatusResponseSchema, {
      membership: { generation: formed?.generation ?? 0n, jobId: this.opts.jobId },
      state: this.state,
      workers: (formed?.members ?? []).map(peerInfo),
      epoch: this.epoch,
    });
  }
}

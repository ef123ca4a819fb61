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
 * stream is ended with FAILED_PRECONDITION / NOT_FOUND; a member's message of an older generation
 * (sent before it learned of the new one) is refused and dropped. Heartbeats go both ways every
 * `heartbeatMs`.
 *
 * Elastic membership (docs/distributed.md#a-new-generation): a worker whose stream breaks, who
 * sends nothing for `heartbeatTimeoutMs`, reports a failure or leaves is dropped, not fatal. The
 * coordinator says Halt to the others, waits for each one's Halted (its newest commit) and forms
 * the next generation of the survivors and any worker that joined meanwhile (on standby: it
 * joined, built its model and said Hello): a Regroup to each names its rank, shards, the resume
 * step and the state rank. Below `minWorkers` it waits `rejoinTimeoutMs` for workers, then has a
 * survivor checkpoint the newest commit (last-checkpoint.ts) and fails naming the missing ones;
 * more than `maxRestarts` changes fail the job too.
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
import { type HaltReport, type MembershipChange, Reform, ShardLedger } from './generations';
import type { Caller, CoordinatorHandlers, SessionStream } from './handlers';
import { LastCheckpoint } from './last-checkpoint';
import { type Formed, type JoinInfo, type Member, Membership, MembershipError } from './membership';
import { decodeRankEpoch } from './session-codec';
import { WorkerFailures } from './worker-failures';

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
  /** the most members a generation may have */
  maxWorkers: number;
  /** below minWorkers, how long to wait for workers before failing */
  rejoinTimeoutMs: number;
  /** membership changes the job survives */
  maxRestarts: number;
  /** losses of one worker id the job survives; one more excludes that worker (default 3) */
  maxWorkerFailures?: number;
  /** the job's seed (the epoch orders, for exactly-once accounting across changes) */
  seed: number;
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
  /** the global step of that checkpoint: one mid-epoch continues startEpoch there (default 0) */
  resumeStep?: number;
  /** write a checkpoint at every epoch end (always at the last) */
  checkpointEveryEpoch: boolean;
  /** the freeze plan whose boundary events every epoch plan announces (default: none) */
  freeze?: { boundaryAt(step: number): string; events: readonly { step: number; boundary: string }[] };
  onEpoch?: (r: EpochRecord) => void;
  onProgress?: (workerId: string, p: StepProgress) => void;
  onMembership?: (c: MembershipChange) => void;
}

export interface CoordinatorResult {
  epochs: EpochRecord[];
  members: Formed['members'];
  modelInfo: Record<string, unknown>;
  membership: MembershipChange[];
}

export class Coordinator implements CoordinatorHandlers {
  private readonly membership: Membership;
  private readonly sessions = new Map<string, SessionStream>();
  private readonly lastSeen = new Map<string, number>();
  private readonly hello = new Set<string>();
  /** joined a running job, not placed yet: their Join info */
  private readonly standby = new Map<string, JoinInfo>();
  private readonly ledger: ShardLedger;
  private results = new Map<string, EpochResult>();
  private epoch = 0;
  private epochStarted = 0;
  private formedAt = 0;
  private readonly records: EpochRecord[] = [];
  private readonly changes: MembershipChange[] = [];
  private modelInfo: Record<string, unknown> = {};
  private state: JobState = 'joining';
  private reform: Reform | undefined;
  private readonly lastCheckpoint = new LastCheckpoint();
  private readonly failures: WorkerFailures;
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
    this.ledger = new ShardLedger({
      trainIds: opts.trainIds,
      seed: opts.seed,
      globalBatch: opts.globalBatch,
      shardCount: opts.shardCount,
      stepsPerEpoch: opts.stepsPerEpoch,
    });
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
    this.failures = new WorkerFailures(opts.jobId, opts.maxWorkerFailures ?? 3);
  }

  /** Whether `workerId` failed too often and may not take part any more (worker-failures.ts). */
  excluded(workerId: string): boolean {
    return this.failures.excluded(workerId);
  }

  private get members(): Member[] {
    return this.membership.formed?.members ?? [];
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
    if (this.failures.excluded(req.workerId)) throw this.failures.refusal(req.workerId);
    const info = { workerId: req.workerId, peerAddress: req.peerAddress, dataAddress: req.dataAddress, backend: req.backend, identity };
    if (this.state === 'running' || this.state === 'reforming') return this.admitStandby(info);
    let formed: Formed;
    try {
      formed = await this.membership.join(info);
    } catch (e) {
      if (e instanceof MembershipError && e.code === 'deadline-exceeded') this.fail(e.message);
      throw e;
    }
    if (this.state === 'joining') this.startRunning(formed);
    const me = formed.members.find((m) => m.workerId === req.workerId);
    if (!me) throw new PermafrostError('internal', 'joined but not a member');
    log().info('worker joined', { worker: me.workerId, rank: me.rank, peer: me.peerAddress, data: me.dataAddress, backend: me.backend });
    return create(JoinResponseSchema, {
      ...this.joinAnswer(),
      membership: { generation: formed.generation, jobId: this.opts.jobId },
      rank: me.rank,
      worldSize: formed.members.length,
      peers: formed.members.map(peerInfo),
      shards: me.shards,
      resumeFrom: this.opts.resumeFrom,
    });
  }

  private joinAnswer() {
    return {
      jobSpecJson: this.opts.jobJson,
      shardCount: this.opts.shardCount,
      heartbeatMs: this.opts.heartbeatMs,
      heartbeatTimeoutMs: this.opts.heartbeatTimeoutMs,
    };
  }

  /**
   * A worker joining the running job waits on standby (generation 0) until the next Regroup
   * places it. Its id may be a member's that restarted: that incarnation is gone.
   */
  private admitStandby(info: JoinInfo): JoinResponse {
    if (this.members.some((m) => m.workerId === info.workerId)) this.lose(info.workerId, 'restarted');
    const placed = this.members.filter((m) => !this.reform?.left.has(m.workerId)).length;
    if (!this.standby.has(info.workerId) && placed + this.standby.size >= this.opts.maxWorkers) {
      throw new PermafrostError(
        'failed-precondition',
        `the job already has ${placed + this.standby.size} of at most ${this.opts.maxWorkers} workers`,
      );
    }
    this.standby.set(info.workerId, info);
    log().info('worker joined the running job', { worker: info.workerId, peer: info.peerAddress, data: info.dataAddress });
    return create(JoinResponseSchema, { ...this.joinAnswer(), membership: { generation: 0n, jobId: this.opts.jobId }, standby: true });
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
      if (problem === 'stale') {
        log().debug('session message of an older generation refused', { worker: m.workerId, generation: Number(m.membership?.generation) });
        return;
      }
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
      if (!workerId || this.sessions.get(workerId) !== stream) return;
      this.sessions.delete(workerId);
      this.lose(workerId, `disconnected${error ? `: ${error.message}` : ''}`);
    });
  }

  /**
   * Whether `m` may be handled: of this job and generation, from a member (or a worker on standby),
   * on the stream that worker opened with the certificate it joined with; 'stale' for a member's
   * message of an older generation. A second stream for a worker is refused, never swapped in; no
   * refusal names another worker.
   */
  private validate(m: SessionRequest, stream: SessionStream, streamOf: string | undefined): PermafrostError | 'stale' | undefined {
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
  ): PermafrostError | 'stale' | undefined {
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
    const gen = m.membership?.generation ?? 0n;
    const member = formed.members.some((x) => x.workerId === m.workerId);
    const waiting = this.standby.get(m.workerId);
    if (waiting && gen === 0n) {
      return waiting.identity === identity
        ? undefined
        : new PermafrostError('permission-denied', `worker '${m.workerId}' joined with another certificate`);
    }
    // a member's message sent before it learned of the current generation (a newcomer's: 0)
    if (member && gen < formed.generation) return 'stale';
    if (gen !== formed.generation) {
      return new PermafrostError('failed-precondition', `generation ${gen} is not the current generation ${formed.generation}`);
    }
    if (!member) return new PermafrostError('not-found', `unknown worker '${m.workerId}'`);
    if (this.membership.identityOf(m.workerId) !== identity) {
      return new PermafrostError('permission-denied', `worker '${m.workerId}' joined with another certificate`);
    }
    return undefined;
  }

  private describe(workerId: string): string {
    const m = this.members.find((x) => x.workerId === workerId);
    return m ? `${workerId} (rank ${m.rank})` : workerId;
  }

  private onMessage(m: SessionRequest): void {
    const e = m.event;
    if (e.case === 'hello') this.onHello(m.workerId, e.value.modelInfoJson);
    else if (e.case === 'progress') {
      if (this.state === 'running') {
        this.opts.onProgress?.(m.workerId, e.value);
        this.events.emit('progress', m.workerId, e.value);
      }
    } else if (e.case === 'epochResult') this.onResult(m.workerId, e.value);
    else if (e.case === 'halted') this.onHalted(m.workerId, e.value);
    else if (e.case === 'failure') this.lose(m.workerId, `failed: ${e.value.message}`);
    else if (e.case === 'commitSaved') this.lastCheckpoint.answered(m.workerId, e.value);
  }

  private onHello(workerId: string, modelInfoJson: string): void {
    if (modelInfoJson && Object.keys(this.modelInfo).length === 0) this.modelInfo = JSON.parse(modelInfoJson) as Record<string, unknown>;
    if (this.standby.has(workerId)) {
      this.hello.add(workerId);
      this.startReform(`worker ${workerId} joins`);
      this.maybeRegroup();
      return;
    }
    this.hello.add(workerId);
    // a member that opens its session while a change is under way learns of it now
    if (this.state === 'reforming') this.sendTo(workerId, { command: { case: 'halt', value: { reason: this.reform?.reason ?? '' } } });
    else if (this.state === 'running' && this.epoch === 0 && this.members.every((x) => this.hello.has(x.workerId)))
      this.plan(this.opts.startEpoch);
  }

  private onResult(workerId: string, r: EpochResult): void {
    if (this.state !== 'running') return;
    if (r.epoch !== this.epoch) {
      this.fail(`worker ${this.describe(workerId)} reported epoch ${r.epoch} during epoch ${this.epoch}`);
      return;
    }
    this.results.set(workerId, r);
    if (this.results.size === this.members.length) this.finishEpoch();
  }

  private onHalted(workerId: string, h: { committedStep: bigint; hasState: boolean; reason: string }): void {
    if (this.state !== 'running' && this.state !== 'reforming') return;
    this.startReform(`worker ${this.describe(workerId)} halted: ${h.reason}`);
    this.reform?.halted.set(workerId, { step: Number(h.committedStep), hasState: h.hasState } satisfies HaltReport);
    this.maybeRegroup();
  }

  private broadcast(command: MessageInitShape<typeof SessionResponseSchema>): void {
    for (const m of this.members) this.sendTo(m.workerId, command);
  }

  private sendTo(workerId: string, command: MessageInitShape<typeof SessionResponseSchema>, generation?: bigint): void {
    const msg = create(SessionResponseSchema, command);
    msg.membership = create(MembershipSchema, { generation: generation ?? this.membership.generation, jobId: this.opts.jobId });
    this.sessions.get(workerId)?.send(msg);
  }

  private epochPlan(epoch: number) {
    const steps = this.opts.stepsPerEpoch;
    const first = (epoch - 1) * steps;
    const freezeEvents = (this.opts.freeze?.events ?? [])
      .filter((e) => e.step >= first && e.step < first + steps)
      .map((e) => ({ step: e.step, boundary: e.boundary }));
    const checkpoint = epoch === this.opts.epochs || this.opts.checkpointEveryEpoch;
    const boundary = this.opts.freeze?.boundaryAt(first) ?? '';
    return { epoch, epochs: this.opts.epochs, steps, globalBatch: this.opts.globalBatch, boundary, checkpoint, freezeEvents };
  }

  private plan(epoch: number): void {
    this.epoch = epoch;
    this.epochStarted = performance.now();
    this.results = new Map();
    this.ledger.startEpoch();
    if (epoch === this.opts.startEpoch) this.ledger.resumed(epoch, this.opts.resumeStep ?? 0);
    this.broadcast({ command: { case: 'epoch', value: this.epochPlan(epoch) } });
  }

  private finishEpoch(): void {
    const members = this.members;
    const decoded = members.map((m) => decodeRankEpoch(this.results.get(m.workerId) as EpochResult));
    const ranks: RankEpoch[] = decoded.map((d) => d.rank);
    const problem = checkEpoch(this.epoch, ranks, this.opts.trainIds, this.ledger.credited);
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
    for (const id of this.standby.keys()) this.sendTo(id, { command: { case: 'finish', value: {} } });
    this.stop();
    this.resolveDone({ epochs: this.records, members, modelInfo: this.modelInfo, membership: this.changes });
  }

  private checkHeartbeats(): void {
    if (this.state !== 'running' && this.state !== 'reforming') return;
    const now = Date.now();
    // Building the model and opening the cache happen between Join and Hello: that phase is
    // bounded by the join timeout, the heartbeat timeout applies once a session is up.
    const silent = this.members.filter((m) => !this.hello.has(m.workerId) && !this.reform?.left.has(m.workerId));
    if (silent.length > 0 && now - this.formedAt > this.opts.joinTimeoutMs) {
      for (const m of silent) this.lose(m.workerId, `joined but never opened its session within ${this.opts.joinTimeoutMs} ms`);
      return;
    }
    for (const [id, t] of this.lastSeen) {
      if (now - t > this.opts.heartbeatTimeoutMs) this.lose(id, `stopped answering (no heartbeat for ${now - t} ms)`);
    }
  }

  /**
   * A member or a standby worker is gone: its session is cut (a stopped process that resumes
   * finds itself refused), and the membership changes without it.
   */
  lose(workerId: string, reason: string): void {
    if (this.state !== 'running' && this.state !== 'reforming') return;
    this.lastCheckpoint.lost(workerId, reason);
    this.lastSeen.delete(workerId);
    this.hello.delete(workerId);
    const stream = this.sessions.get(workerId);
    this.sessions.delete(workerId);
    stream?.end(new PermafrostError('failed-precondition', `worker ${workerId} was excluded from the job: ${reason}`));
    if (this.standby.delete(workerId)) {
      log().warn('standby worker lost', { worker: workerId, reason });
      this.failures.lost(workerId, reason);
      this.maybeRegroup();
      return;
    }
    if (!this.members.some((m) => m.workerId === workerId) || this.reform?.left.has(workerId)) return;
    log().warn('worker lost', { worker: workerId, reason });
    this.failures.lost(workerId, reason);
    this.startReform(`worker ${this.describe(workerId)} ${reason}`);
    this.reform?.left.set(workerId, reason);
    this.maybeRegroup();
  }

  private startReform(reason: string): void {
    if (this.state !== 'running') return;
    this.setState('reforming');
    this.reform = new Reform(reason);
    this.broadcast({ command: { case: 'halt', value: { reason } } });
  }

  /** Forms the next generation once every member has halted or left, and enough workers are there. */
  private maybeRegroup(): void {
    const r = this.reform;
    if (this.state !== 'reforming' || !r || r.closing) return;
    if (r.waitingFor(this.members.map((m) => m.workerId)).length > 0) return;
    const survivors = this.members.filter((m) => !r.left.has(m.workerId));
    const ready = [...this.standby.values()].filter((w) => this.hello.has(w.workerId));
    const count = Math.min(survivors.length + ready.length, this.opts.maxWorkers);
    if (count < this.opts.minWorkers) {
      this.awaitRejoin(r, survivors.length + ready.length);
      return;
    }
    clearTimeout(r.rejoinTimer);
    this.regroup(r, survivors, ready.slice(0, count - survivors.length));
  }

  private awaitRejoin(r: Reform, have: number): void {
    if (r.rejoinTimer) return;
    log().warn('waiting for workers', { have, minWorkers: this.opts.minWorkers, rejoinTimeoutMs: this.opts.rejoinTimeoutMs });
    r.rejoinTimer = setTimeout(() => void this.failBelowMinimum(r, have), this.opts.rejoinTimeoutMs);
  }

  /** Fails the job below minWorkers, once a survivor has checkpointed the newest commit (last-checkpoint.ts). */
  private async failBelowMinimum(r: Reform, have: number): Promise<void> {
    r.closing = true;
    const missing = [...r.left].map(([id, why]) => `${id} (${why})`).join(', ');
    const why = `only ${have} of the minimum ${this.opts.minWorkers} workers after waiting ${this.opts.rejoinTimeoutMs} ms; missing: ${missing}`;
    const point = r.resumePoint(this.members.filter((m) => !r.left.has(m.workerId)).map((m) => m.workerId));
    const ask = (id: string) => () => this.sendTo(id, { command: { case: 'saveCommit', value: { reason: why } } });
    const saved = point
      ? await this.lastCheckpoint.save(point.stateWorker, point.step, ask(point.stateWorker))
      : 'no surviving worker holds a commit to checkpoint';
    this.fail(`${why}; ${saved}`);
  }

  private regroup(r: Reform, survivors: Member[], joiners: JoinInfo[]): void {
    const point = r.resumePoint(survivors.map((m) => m.workerId));
    if (!point) {
      this.fail(`no surviving worker holds the training state (${r.reason})`);
      return;
    }
    if (this.membership.generation > BigInt(this.opts.maxRestarts)) {
      this.fail(`the membership changed ${this.opts.maxRestarts + 1} times (cluster.maxRestarts ${this.opts.maxRestarts}): ${r.reason}`);
      return;
    }
    const epoch = this.epoch || this.opts.startEpoch;
    const before = new Map(this.members.map((m) => [m.workerId, m.shards]));
    for (const [id] of r.left) this.ledger.credit(epoch, before.get(id) ?? [], point.step);
    const formed = this.membership.next([...survivors, ...joiners]);
    this.ledger.moved(before, new Map(formed.members.map((m) => [m.workerId, m.shards])), point.step);
    for (const j of joiners) this.standby.delete(j.workerId);
    this.epoch = epoch;
    this.results = new Map();
    this.reform = undefined;
    this.setState('running');
    this.events.emit('membership', { generation: formed.generation, members: formed.members, reason: r.reason });
    const now = Date.now();
    for (const m of formed.members) this.lastSeen.set(m.workerId, now);
    this.announce(formed, point, epoch);
    this.record(r, formed, joiners, point.step, epoch);
  }

  private announce(formed: Formed, point: { step: number; stateWorker: string }, epoch: number): void {
    const stateRank = formed.members.find((m) => m.workerId === point.stateWorker)?.rank ?? 0;
    const plan = this.epochPlan(epoch);
    for (const m of formed.members) {
      const value = {
        rank: m.rank,
        worldSize: formed.members.length,
        peers: formed.members.map(peerInfo),
        shards: m.shards,
        shardCount: this.opts.shardCount,
        resumeStep: BigInt(point.step),
        stateRank,
        epoch: plan,
      };
      this.sendTo(m.workerId, { command: { case: 'regroup', value } }, formed.generation);
    }
  }

  private record(r: Reform, formed: Formed, joiners: JoinInfo[], resumeStep: number, epoch: number): void {
    const change: MembershipChange = {
      generation: Number(formed.generation),
      epoch,
      resumeStep,
      workers: formed.members.length,
      left: [...r.left].map(([workerId, reason]) => ({ workerId, reason })),
      joined: joiners.map((j) => j.workerId),
      excluded: [...r.left.keys()].filter((id) => this.failures.excluded(id)),
      secondsLost: Math.round(r.seconds * 1000) / 1000,
    };
    this.changes.push(change);
    log().warn('membership changed', { ...change, why: r.reason });
    this.opts.onMembership?.(change);
  }

  /** Fails the job: every session gets Abort with the reason. Idempotent. */
  fail(reason: string): void {
    if (this.state === 'failed' || this.state === 'finished') return;
    this.setState('failed', reason);
    log().error('job failed', { reason });
    this.broadcast({ command: { case: 'abort', value: { reason } } });
    for (const s of this.sessions.values()) s.end();
    this.membership.fail(new MembershipError(reason, 'failed-precondition'));
    clearTimeout(this.reform?.rejoinTimer);
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
   * A worker leaves: while the job runs, the Leave must come from a member of this job and
   * generation with its own certificate, and starts a new generation without it; before the
   * membership forms, only the certificate a worker joined with can withdraw it.
   */
  async leave(req: LeaveRequest, caller: Caller = {}): Promise<LeaveResponse> {
    const identity = caller.identity?.name;
    if (this.state === 'running' || this.state === 'reforming') {
      const problem = this.checkMember(req.membership, req.workerId, identity);
      if (problem instanceof PermafrostError) throw problem;
      if (problem === undefined) this.lose(req.workerId, `left: ${req.reason || 'no reason given'}`);
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

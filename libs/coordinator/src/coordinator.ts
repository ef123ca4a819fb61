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
 * `heartbeatMs`. A lost member starts a membership change (reforming.ts); what the parts share is
 * in coordinator-base.ts.
 */
import { create } from '@bufbuild/protobuf';
import {
  type EpochResult,
  type JoinRequest,
  type JoinResponse,
  JoinResponseSchema,
  type LeaveRequest,
  type LeaveResponse,
  LeaveResponseSchema,
  type SessionRequest,
  type StatusResponse,
  StatusResponseSchema,
} from '@permafrost/proto';
import { log, PermafrostError } from '@permafrost/telemetry';
import { epochRecord, type RankEpoch } from '@permafrost/trainer';
import { peerInfo, statusEntry } from './coordinator-options';
import { checkEpoch } from './epoch-checks';
import type { HaltReport } from './generations';
import type { Caller, CoordinatorHandlers, SessionStream } from './handlers';
import { type Formed, type JoinInfo, MembershipError } from './membership';
import { Reforming } from './reforming';
import { decodeRankEpoch } from './session-codec';
import { Takeover } from './takeover';

export type { CoordinatorOptions, CoordinatorResult } from './coordinator-options';

export class Coordinator extends Reforming implements CoordinatorHandlers {
  private readonly takeover = new Takeover(this.opts.takeBack ?? false, this.opts.stepsPerEpoch);

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
    this.takeover.note(req);
    this.membership.generation = this.takeover.generationAfter(this.membership.generation);
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
    // taken back from a lost coordinator: every member is placed by a Regroup once all said Hello
    if (this.takeover.active(formed.members)) {
      const membership = { generation: formed.generation, jobId: this.opts.jobId };
      return create(JoinResponseSchema, { ...this.joinAnswer(), membership, standby: true });
    }
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
    else if (this.state === 'running' && this.epoch === 0 && this.members.every((x) => this.hello.has(x.workerId))) {
      if (this.takeover.active(this.members)) this.takeBack();
      else this.plan(this.opts.startEpoch);
    }
  }

  /** Continues the job from the newest commit of the workers taken back (takeover.ts). */
  private takeBack(): void {
    const formed = this.membership.formed as Formed;
    const point = this.takeover.resumePoint(formed.members.map((m) => m.workerId));
    if (!point) return;
    this.epoch = point.epoch;
    this.epochStarted = performance.now();
    this.results = new Map();
    this.ledger.startEpoch();
    this.ledger.takeover(point.epoch, point.step);
    this.announce(formed, point, point.epoch);
    const change = this.takeover.change(formed, point);
    this.changes.push(change);
    log().warn('membership changed', { ...change, why: `a restarted coordinator took the workers back from step ${point.step}` });
    this.opts.onMembership?.(change);
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
    const credited = this.ledger.creditedFor(
      this.epoch,
      ranks.flatMap((r) => r.sampleIds),
    );
    const problem = checkEpoch(this.epoch, ranks, this.opts.trainIds, credited);
    if (problem) {
      this.fail(problem);
      return;
    }
    const checkpoint = decoded.find((d) => d.checkpointDir)?.checkpointDir;
    const wallSeconds = (performance.now() - this.epochStarted) / 1000;
    const record = epochRecord(ranks, wallSeconds, checkpoint);
    // a membership change restarts the workers' epoch clocks and counts at the resume step: the
    // epoch's time is then the coordinator's, and its samples the training set (exactly once)
    if (this.changes.some((c) => c.epoch === this.epoch)) {
      Object.assign(record, { seconds: wallSeconds, samplesPerSec: this.opts.trainIds.length / wallSeconds });
    }
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

  /**
   * A worker leaves: while the job runs, the Leave must come from a member of this job with its
   * own certificate (of this generation, or of an older one it had not left yet), and starts a
   * new generation without it; before the
   * membership forms, only the certificate a worker joined with can withdraw it.
   */
  async leave(req: LeaveRequest, caller: Caller = {}): Promise<LeaveResponse> {
    const identity = caller.identity?.name;
    if (this.state === 'running' || this.state === 'reforming') {
      const problem = this.checkMember(req.membership, req.workerId, identity);
      if (problem instanceof PermafrostError) throw problem;
      // a member leaving before it learned of the current generation (a graceful stop) still leaves
      const own = problem === undefined || this.membership.identityOf(req.workerId) === identity;
      if (own) this.lose(req.workerId, `left: ${req.reason || 'no reason given'}`);
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
      workers: (formed?.members ?? []).map(statusEntry),
      epoch: this.epoch,
    });
  }
}

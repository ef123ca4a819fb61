/**
 * What every part of the coordinator shares (docs/architecture.md#the-control-plane): the job's
 * state, the membership and the sessions, sending to members, the epoch plan, the membership
 * check every call passes, and failing the job. The handlers (coordinator.ts) and membership
 * changes (reforming.ts) build on it.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type EpochResult, MembershipSchema, SessionResponseSchema } from '@permafrost/proto';
import { log, PermafrostError } from '@permafrost/telemetry';
import type { EpochRecord } from '@permafrost/trainer';
import { CoordinatorEvents, type JobState } from './coordinator-events';
import type { CoordinatorOptions, CoordinatorResult } from './coordinator-options';
import { type MembershipChange, type Reform, ShardLedger } from './generations';
import type { SessionStream } from './handlers';
import { type JoinInfo, type Member, Membership, MembershipError } from './membership';

export abstract class CoordinatorBase {
  protected readonly membership: Membership;
  protected readonly sessions = new Map<string, SessionStream>();
  protected readonly lastSeen = new Map<string, number>();
  protected readonly hello = new Set<string>();
  /** joined a running job, not placed yet: their Join info */
  protected readonly standby = new Map<string, JoinInfo>();
  protected readonly ledger: ShardLedger;
  protected results = new Map<string, EpochResult>();
  protected epoch = 0;
  protected epochStarted = 0;
  protected formedAt = 0;
  protected readonly records: EpochRecord[] = [];
  protected readonly changes: MembershipChange[] = [];
  protected modelInfo: Record<string, unknown> = {};
  protected state: JobState = 'joining';
  protected reform: Reform | undefined;
  /** membership, progress, epoch and state events, for observers */
  readonly events = new CoordinatorEvents();
  protected watchdog: NodeJS.Timeout | undefined;
  protected beat: NodeJS.Timeout | undefined;
  protected resolveDone!: (r: CoordinatorResult) => void;
  protected rejectDone!: (e: Error) => void;
  /** settles when the job finishes (resolve) or fails (reject with a PermafrostError) */
  readonly done: Promise<CoordinatorResult>;

  constructor(protected readonly opts: CoordinatorOptions) {
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
  }

  protected get members(): Member[] {
    return this.membership.formed?.members ?? [];
  }

  protected describe(workerId: string): string {
    const m = this.members.find((x) => x.workerId === workerId);
    return m ? `${workerId} (rank ${m.rank})` : workerId;
  }

  protected broadcast(command: MessageInitShape<typeof SessionResponseSchema>): void {
    for (const m of this.members) this.sendTo(m.workerId, command);
  }

  protected sendTo(workerId: string, command: MessageInitShape<typeof SessionResponseSchema>, generation?: bigint): void {
    const msg = create(SessionResponseSchema, command);
    msg.membership = create(MembershipSchema, { generation: generation ?? this.membership.generation, jobId: this.opts.jobId });
    this.sessions.get(workerId)?.send(msg);
  }

  protected epochPlan(epoch: number) {
    const steps = this.opts.stepsPerEpoch;
    const first = (epoch - 1) * steps;
    const freezeEvents = (this.opts.freeze?.events ?? [])
      .filter((e) => e.step >= first && e.step < first + steps)
      .map((e) => ({ step: e.step, boundary: e.boundary }));
    const checkpoint = epoch === this.opts.epochs || this.opts.checkpointEveryEpoch;
    const boundary = this.opts.freeze?.boundaryAt(first) ?? '';
    return { epoch, epochs: this.opts.epochs, steps, globalBatch: this.opts.globalBatch, boundary, checkpoint, freezeEvents };
  }

  /** Whether a call of job and generation `membership` may act for `workerId`, presented by `identity`. */
  protected checkMember(
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

  protected setState(state: JobState, reason?: string): void {
    this.state = state;
    this.events.emit('state', state, reason);
  }

  protected stop(): void {
    clearInterval(this.watchdog);
    clearInterval(this.beat);
    this.membership.close();
  }
}

/**
 * The worker's side of the Session stream (docs/architecture.md#the-control-plane). Every message
 * carries the job id, the generation and this worker's id. The worker says Hello, then sends a
 * Heartbeat every `heartbeatMs` (the period the coordinator gave in the Join answer), progress,
 * and one EpochResult per EpochPlan. Plans and Regroups (a new generation: docs/distributed.md)
 * are handled one after another, in order, and a Regroup moves the session's messages to its
 * generation; Halt is handled at once (it stops the plan in flight). SaveCommit (the job is about
 * to fail) is queued too: the worker is halted by then. Finish ends the session once the plans
 * before it are done, and so does this worker's own leaving (a graceful stop); Abort, a broken
 * stream or a failed plan ends it with the reason (a failed plan is also reported up as a
 * WorkerFailure), never a hang. The
 * coordinator heartbeats down as well: nothing from it for `heartbeatTimeoutMs` ends the session
 * too (a stopped or partitioned coordinator). A broken stream or that silence rejects with
 * CoordinatorLost, which a worker may outlive (coordinator-retry.ts); a stream the coordinator
 * ended with a refusal does not. A watchdog that itself ran late measures this
 * process's own stall (a long kernel), not the coordinator's silence, and starts counting again.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { CoordinatorClient, SessionClientStream } from '@permafrost/coordinator';
import { type EpochPlan, type Membership, MembershipSchema, type Regroup, SessionRequestSchema } from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';

/** The heartbeat period both ways, and how long a silence means the other end is lost. */
export interface Heartbeats {
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
}

export type SessionEvent = MessageInitShape<typeof SessionRequestSchema>['event'];

/**
 * The coordinator went away (the stream broke, or it stopped answering), as opposed to ending
 * this session on purpose (a refusal, an exclusion, Abort): a worker may wait for a restarted
 * coordinator to take it back (coordinator-retry.ts).
 */
export class CoordinatorLost extends PermafrostError {
  override readonly name = 'CoordinatorLost';
  constructor(message: string) {
    super('unavailable', message);
  }
}

/** Codes of a stream the coordinator ended on purpose; any other end means it went away. */
const DELIBERATE = new Set(['failed-precondition', 'not-found', 'permission-denied', 'already-exists', 'aborted', 'invalid-argument']);

/** What the coordinator's commands do on this worker. */
export interface SessionHandlers {
  plan(plan: EpochPlan): Promise<void>;
  /** at once, outside the queue */
  halt(reason: string): void;
  regroup(r: Regroup, generation: bigint): Promise<void>;
  /** the job is failing: checkpoint the newest commit and answer with CommitSaved */
  saveCommit(reason: string): Promise<void>;
}

export class WorkerSession {
  private readonly stream: SessionClientStream;
  private readonly membership: Membership;
  private heartbeat: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private ended = false;
  /** this worker is leaving the job (graceful-stop.ts): `run` ends as on Finish */
  private left = false;
  private finishRun: (() => void) | undefined;
  /** the plans and regroups in order; settles when the last one queued has */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    client: CoordinatorClient,
    membership: Membership | undefined,
    private readonly workerId: string,
    private readonly coordinator: string,
  ) {
    this.stream = client.session();
    this.membership = create(MembershipSchema, { generation: membership?.generation ?? 0n, jobId: membership?.jobId ?? '' });
  }

  /** the job and the generation this session's messages carry */
  get membershipNow(): Membership {
    return this.membership;
  }

  send(event: SessionEvent): void {
    // a worker halting after its coordinator went away has nobody to tell
    if (this.ended) return;
    this.stream.send(create(SessionRequestSchema, { membership: this.membership, workerId: this.workerId, event }));
  }

  /**
   * This worker is leaving the job (graceful-stop.ts): `run` resolves once the work in hand has
   * ended, commands that still come are ignored, and the coordinator closing the session after
   * the Leave is no loss.
   */
  leaving(): void {
    this.left = true;
    this.finishRun?.();
  }

  /** Says Hello and handles plans until Finish; rejects on Abort, a broken stream, a silent coordinator or a failed plan. */
  run(modelInfo: Record<string, unknown>, beat: Heartbeats, on: SessionHandlers): Promise<void> {
    if (this.left) return Promise.resolve();
    return new Promise<void>((done, fail) => {
      let finished = false;
      this.finishRun = () => {
        if (finished) return;
        finished = true;
        this.queue.then(() => done(), fail);
      };
      const lost = (why: string, gone: boolean) => {
        if (finished) return;
        const message = `lost the coordinator at ${this.coordinator}: ${why}`;
        fail(gone ? new CoordinatorLost(message) : new PermafrostError('unavailable', message));
      };
      this.stream.onClose((error) => {
        const code = error instanceof PermafrostError ? error.code : 'unknown';
        lost(error ? error.message : 'the session ended', error !== undefined && !DELIBERATE.has(code));
      });
      const heard = this.watch(beat.heartbeatTimeoutMs, (ms) => lost(`it stopped answering (nothing for ${ms} ms)`, true));
      this.stream.onMessage((m) => {
        heard();
        const c = m.command;
        if (this.left) return;
        if (c.case === 'finish') {
          this.finishRun?.();
        } else if (c.case === 'abort') {
          finished = true;
          fail(new PermafrostError('aborted', `the coordinator aborted the job: ${c.value.reason}`));
        } else if (c.case === 'epoch') {
          const plan = c.value;
          this.queue = this.queue.then(() => on.plan(plan)).catch((e: unknown) => this.failed(e, fail));
        } else if (c.case === 'halt') {
          on.halt(c.value.reason);
        } else if (c.case === 'regroup') {
          const r = c.value;
          const generation = m.membership?.generation ?? 0n;
          this.queue = this.queue
            .then(() => {
              this.membership.generation = generation;
              return on.regroup(r, generation);
            })
            .catch((e: unknown) => this.failed(e, fail));
        } else if (c.case === 'saveCommit') {
          const reason = c.value.reason;
          this.queue = this.queue.then(() => on.saveCommit(reason)).catch((e: unknown) => this.failed(e, fail));
        }
      });
      this.send({ case: 'hello', value: { modelInfoJson: JSON.stringify(modelInfo) } });
      this.heartbeat = setInterval(() => this.send({ case: 'heartbeat', value: { sentAtMs: BigInt(Date.now()) } }), beat.heartbeatMs);
    });
  }

  /** Calls `silent` once nothing was heard for `timeoutMs`; returns what to call on every message. */
  private watch(timeoutMs: number, silent: (ms: number) => void): () => void {
    const periodMs = Math.max(10, Math.min(500, timeoutMs / 4));
    let lastHeard = Date.now();
    let lastTick = Date.now();
    this.watchdog = setInterval(() => {
      const now = Date.now();
      // this process stalled (a long kernel, a GC pause): its own silence, not the coordinator's
      if (now - lastTick > 2 * periodMs) lastHeard = now;
      lastTick = now;
      if (now - lastHeard > timeoutMs) {
        clearInterval(this.watchdog);
        silent(now - lastHeard);
      }
    }, periodMs);
    return () => {
      lastHeard = Date.now();
    };
  }

  private failed(e: unknown, fail: (e: Error) => void): void {
    const message = e instanceof Error ? e.message : String(e);
    this.send({ case: 'failure', value: { message } });
    fail(e instanceof Error ? e : new PermafrostError('internal', message));
  }

  /** Settles once the plan or regroup in flight (and any queued) has ended. */
  drained(): Promise<void> {
    return this.queue.catch(() => undefined);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    clearInterval(this.watchdog);
    this.stream.end();
  }
}

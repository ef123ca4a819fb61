/**
 * A worker's graceful stop (docs/deploy.md#stops-drains-and-restarts): SIGTERM (Kubernetes
 * deleting or evicting the pod, scaling the StatefulSet down, `podman stop`) or SIGINT (Ctrl-C)
 * makes the worker leave the job at its next step boundary, and the job goes on elastically
 * without it.
 *
 *   1. The signal marks the stop. A worker training goes on to the end of its current step (the
 *      loop commits after every step and reports it); one that is not training (between plans,
 *      halted, on standby, still building its model) leaves as soon as it holds a session.
 *   2. It ends its session as finished (the coordinator cutting it after the Leave is no lost
 *      coordinator: worker-session.ts `leaving`), stops its collective in flight (no Halted goes
 *      up: the coordinator no longer counts it) and calls Leave with its generation. The
 *      coordinator drops it without counting a failure, halts the others and forms a new
 *      generation at the newest step a survivor committed, the step this worker left after.
 *   3. `holdSessions` returns, the worker logs its last line and exits 0.
 *
 * A worker waiting for a lost coordinator (coordinator-retry.ts) stops waiting and exits 0. A
 * second signal exits at once, with 128 + the signal's number.
 */
import { constants } from 'node:os';
import { create } from '@bufbuild/protobuf';
import type { CoordinatorClient } from '@permafrost/coordinator';
import { LeaveRequestSchema } from '@permafrost/proto';
import type { Logger } from '@permafrost/telemetry';
import type { EpochDriver } from './epoch-driver';
import type { WorkerSession } from './worker-session';

/** How long the Leave call may take; past it the worker stops anyway (the coordinator's heartbeats catch it). */
const LEAVE_TIMEOUT_MS = 5000;

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export class GracefulStop {
  private signal: NodeJS.Signals | undefined;
  private leaving: Promise<void> | undefined;
  private held: { session: WorkerSession; driver: EpochDriver } | undefined;
  private resolveRequested!: () => void;
  /** settles when the first signal arrives */
  readonly requested = new Promise<void>((resolve) => {
    this.resolveRequested = resolve;
  });

  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.signal) {
      this.logger.warn('stopping at once', { signal, stopping: this.signal });
      process.exit(128 + constants.signals[signal]);
    }
    this.signal = signal;
    this.resolveRequested();
    const idle = this.held?.driver.idle ?? true;
    this.logger.info('stop requested', { signal, idle });
    if (idle) this.leave();
  };

  constructor(
    private readonly client: CoordinatorClient,
    private readonly workerId: string,
    private readonly logger: Logger,
  ) {
    for (const s of SIGNALS) process.on(s, this.onSignal);
  }

  /** whether a signal asked this worker to stop */
  get stopping(): boolean {
    return this.signal !== undefined;
  }

  /** The session this worker holds now, and its driver; a stop requested before leaves at once. */
  attach(session: WorkerSession, driver: EpochDriver): void {
    this.held = { session, driver };
    if (this.signal) this.leave();
  }

  /** The session was lost (coordinator-retry.ts): a stop requested now ends the wait for the coordinator instead of calling Leave. */
  detach(): void {
    this.held = undefined;
  }

  /** A step completed and was committed, or the driver went idle: where a requested stop happens. */
  boundary(): void {
    if (this.signal) this.leave();
  }

  /** Settles once the Leave (if one was started) has been answered or given up. */
  async settled(): Promise<void> {
    await this.leaving;
  }

  private leave(): void {
    if (!this.held) return;
    this.leaving ??= this.leaveNow(this.held);
  }

  private async leaveNow({ session, driver }: { session: WorkerSession; driver: EpochDriver }): Promise<void> {
    const membership = session.membershipNow;
    session.leaving();
    driver.stop('this worker is leaving the job');
    const reason = `stopped (${this.signal})`;
    try {
      await this.client.leave(create(LeaveRequestSchema, { membership, workerId: this.workerId, reason }), LEAVE_TIMEOUT_MS);
      this.logger.info('left the job', { generation: Number(membership.generation), committedStep: driver.committedStep, reason });
    } catch (e) {
      this.logger.warn('leave failed; stopping anyway', { reason: (e as Error).message });
    }
  }

  /** Stops listening (the job ended): a later signal takes Node's default and ends the process at once. */
  dispose(): void {
    for (const s of SIGNALS) process.removeListener(s, this.onSignal);
  }
}

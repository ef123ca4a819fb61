/**
 * The coordinator's graceful stop (docs/deploy.md#stops-drains-and-restarts). SIGTERM (Kubernetes
 * deleting or evicting the pod, `podman stop`) or SIGINT (Ctrl-C) ends a running job with a
 * checkpoint to resume from, within a bound below Kubernetes' default grace period (30 s):
 *
 *   1. Every member halts at its step boundary and no generation forms (reforming.ts `stopJob`);
 *      the coordinator waits at most `haltWaitMs` for the Halted reports.
 *   2. The worker holding the newest commit (rank 0 when all hold the same step) writes it as a
 *      `step-NNNNNNNN` checkpoint under the pointer `--resume` reads (SaveCommit,
 *      last-checkpoint.ts), at most `saveTimeoutMs`.
 *   3. The job fails with where that checkpoint is: Abort to every worker, which exit with the
 *      reason; the ports close and the command exits 128 + the signal's number (143 for SIGTERM,
 *      130 for SIGINT: a StoppedError), so a Kubernetes Job is not complete, and `coordinator
 *      start --resume` continues at that step.
 *
 * A signal before the job runs (workers still joining) ends it at once, with the same code. A
 * second signal while the stop is under way exits at once; local workers die with the process
 * (local-workers.ts).
 */
import { constants } from 'node:os';
import { log, type PermafrostError, StoppedError } from '@permafrost/telemetry';
import type { Coordinator } from './coordinator';

/** How long the members get to halt at their step boundary. */
export const HALT_WAIT_MS = 5000;
/** How long the worker holding the newest commit gets to write it. */
export const SAVE_WAIT_MS = 10_000;

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export interface StopWaits {
  haltWaitMs: number;
  saveTimeoutMs: number;
}

export class CoordinatorStop {
  /** the first signal, once one came: the job's failure is then a stop */
  private signal: NodeJS.Signals | undefined;

  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.signal) {
      log().warn('stopping at once', { signal, stopping: this.signal });
      process.exit(128 + constants.signals[signal]);
    }
    this.signal = signal;
    const reason = `the coordinator was stopped (${signal})`;
    log().warn('stop requested', { signal, haltWaitMs: this.waits.haltWaitMs, saveTimeoutMs: this.waits.saveTimeoutMs });
    if (!this.coordinator.stopJob(reason, this.waits)) this.coordinator.fail(`${reason} before the job ran`);
  };

  constructor(
    private readonly coordinator: Coordinator,
    private readonly waits: StopWaits = { haltWaitMs: HALT_WAIT_MS, saveTimeoutMs: SAVE_WAIT_MS },
  ) {
    for (const s of SIGNALS) process.on(s, this.onSignal);
  }

  /** The job's failure as the command reports it: a StoppedError (exit 128 + signal) once a signal came. */
  outcome(e: PermafrostError): PermafrostError {
    return this.signal ? new StoppedError(e.message, this.signal) : e;
  }

  /** Stops listening: a signal after the job takes Node's default (the process ends at once). */
  dispose(): void {
    for (const s of SIGNALS) process.removeListener(s, this.onSignal);
  }
}

/**
 * The checkpoint a failing job leaves (docs/distributed.md#below-minworkers). A job that stays
 * below `cluster.minWorkers` for `cluster.rejoinTimeoutMs` fails, but not before one halted
 * survivor holding the newest commit has written a checkpoint of it: SaveCommit down, CommitSaved
 * up (the worker's epoch-driver.ts), in the format and under the pointer `coordinator start
 * --resume` reads. The coordinator waits at most SAVE_COMMIT_TIMEOUT_MS for the answer, and less
 * if that worker is lost meanwhile; the failure message then says where the checkpoint is, or why
 * there is none.
 */
import { log } from '@permafrost/telemetry';

/** How long a failing job waits for the checkpoint of its newest commit. */
export const SAVE_COMMIT_TIMEOUT_MS = 30_000;

export interface CommitSavedReport {
  checkpointDir: string;
  step: bigint;
  error: string;
}

export class LastCheckpoint {
  private pending: { workerId: string; settle: (outcome: string) => void } | undefined;

  /**
   * Asks `workerId` (through `ask`, which sends SaveCommit) for the checkpoint of its commit of
   * `step`; resolves with a clause for the failure message.
   */
  save(workerId: string, step: number, ask: () => void, timeoutMs = SAVE_COMMIT_TIMEOUT_MS): Promise<string> {
    log().warn('writing a checkpoint of the last committed step', { worker: workerId, step });
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => this.settle(workerId, `no checkpoint of step ${step}: worker ${workerId} did not write it within ${timeoutMs} ms`),
        timeoutMs,
      );
      this.pending = {
        workerId,
        settle: (outcome) => {
          clearTimeout(timer);
          this.pending = undefined;
          resolve(outcome);
        },
      };
      ask();
    });
  }

  /** `workerId` answered CommitSaved. */
  answered(workerId: string, r: CommitSavedReport): void {
    if (r.error) this.settle(workerId, `no checkpoint of the last committed step: worker ${workerId}: ${r.error}`);
    else this.settle(workerId, `the last committed step ${r.step} is in checkpoint ${r.checkpointDir} (--resume continues from it)`);
  }

  /** `workerId` is gone: if it was writing the checkpoint, it will not. */
  lost(workerId: string, reason: string): void {
    this.settle(workerId, `no checkpoint of the last committed step: worker ${workerId} was lost (${reason})`);
  }

  private settle(workerId: string, outcome: string): void {
    if (this.pending?.workerId === workerId) this.pending.settle(outcome);
  }
}

/**
 * Per-worker exclusion (docs/distributed.md#a-worker-that-keeps-failing): every loss of a worker
 * id (its session broke, it went silent, it reported a failure; not a Leave) counts against it,
 * and a worker lost more than `cluster.maxWorkerFailures` times is excluded for the rest of the
 * job: its next Join is refused naming the count, and the coordinator does not start it again
 * when it is a local worker. One flaky node then costs the job a few generations, not all of its
 * `cluster.maxRestarts`.
 */
import { log, PermafrostError } from '@permafrost/telemetry';

export class WorkerFailures {
  private readonly losses = new Map<string, number>();
  private readonly excludedIds = new Set<string>();

  constructor(
    private readonly jobId: string,
    /** losses a worker id survives; one more excludes it */
    private readonly maxWorkerFailures: number,
  ) {}

  /** Counts a loss of `workerId`; logs and returns true when this one excludes it. */
  lost(workerId: string, reason: string): boolean {
    if (reason.startsWith('left:') || this.excludedIds.has(workerId)) return false;
    const failures = (this.losses.get(workerId) ?? 0) + 1;
    this.losses.set(workerId, failures);
    if (failures <= this.maxWorkerFailures) return false;
    this.excludedIds.add(workerId);
    log().warn('worker excluded', { worker: workerId, failures, maxWorkerFailures: this.maxWorkerFailures, reason });
    return true;
  }

  excluded(workerId: string): boolean {
    return this.excludedIds.has(workerId);
  }

  /** The refusal of an excluded worker's Join. */
  refusal(workerId: string): PermafrostError {
    const failures = this.losses.get(workerId) ?? 0;
    return new PermafrostError(
      'failed-precondition',
      `worker ${workerId} is excluded from job ${this.jobId}: it was lost ${failures} times (cluster.maxWorkerFailures ${this.maxWorkerFailures})`,
    );
  }
}

/**
 * A test seam, not a feature: `PERMAFROST_TEST_PAUSE=WORKER:POINT:EPOCH:MS` makes worker WORKER
 * stand still for MS milliseconds the first time it reaches POINT in epoch EPOCH, after logging
 * `test pause` (with the point and epoch), so that a test can kill it at that moment without
 * depending on timing luck (test/elastic.test.ts). POINT is `validation` (its validation of the
 * epoch begins; its peers wait for it in the validation allreduce), `checkpoint` (rank 0 is
 * about to write the epoch's checkpoint) or `step` (it has committed the epoch's first step; its
 * peers wait for it in the next step's allreduce: a moment inside the epoch,
 * test/graceful-stop.test.ts). The pause blocks the thread, as a stuck kernel would.
 * Unset, as in every real run, nothing happens. Local workers inherit the variable from their
 * coordinator.
 */
import type { Logger } from '@permafrost/telemetry';

export type PausePoint = 'validation' | 'checkpoint' | 'step';

export interface TestPause {
  /** Pauses here if this is the point and epoch asked for, once. */
  at(point: PausePoint, epoch: number): void;
}

const NONE: TestPause = { at: () => undefined };

/** The pause `value` (PERMAFROST_TEST_PAUSE) asks of worker `workerId`; one that does nothing when unset or for another worker. */
export function testPause(value: string | undefined, workerId: string, logger: Logger): TestPause {
  if (!value) return NONE;
  const m = /^(.+):(validation|checkpoint|step):(\d+):(\d+)$/.exec(value);
  if (!m) throw new Error(`PERMAFROST_TEST_PAUSE: expected WORKER:validation|checkpoint|step:EPOCH:MS, got '${value}'`);
  const [, worker, point, epoch, ms] = m;
  if (worker !== workerId) return NONE;
  let done = false;
  return {
    at(p, e) {
      if (done || p !== point || e !== Number(epoch)) return;
      done = true;
      logger.warn('test pause', { point: p, epoch: e, ms: Number(ms) });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(ms));
    },
  };
}

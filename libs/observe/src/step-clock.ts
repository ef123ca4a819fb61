/**
 * Where a rank's training steps spend their time, split in three: reading the boundary
 * activations (cache reads, and the frozen prefix for misses), waiting for the gradient allreduce,
 * and the rest of the step (the suffix's forward, backward and update: compute). Fed the loop's
 * step events (cumulative per epoch) and each allreduce's duration; keeps the epoch's totals,
 * which go up to the coordinator with the step progress. A batch read ahead during an allreduce
 * counts as read and as allreduce: compute is the step's remainder, never below zero.
 */

/** A training step as the loop reports it: totals of the epoch so far. */
export interface StepInfo {
  epoch: number;
  step: number;
  steps: number;
  samples: number;
  lossSum: number;
  /** seconds since the epoch started */
  seconds: number;
  counters: { hits: number; misses: number; readMs: number; prefixMs: number };
}

export interface StepSplit {
  readSeconds: number;
  computeSeconds: number;
  allreduceSeconds: number;
  allreduceBytes: number;
}

export interface StepDelta {
  durationSeconds: number;
  readSeconds: number;
  computeSeconds: number;
  allreduceSeconds: number;
  samples: number;
  hits: number;
  misses: number;
}

const zeroSplit = (): StepSplit => ({ readSeconds: 0, computeSeconds: 0, allreduceSeconds: 0, allreduceBytes: 0 });

export class StepClock {
  private epoch = 0;
  private last: StepInfo | undefined;
  private pendingAllreduceSeconds = 0;
  private totals = zeroSplit();

  /** An allreduce finished: its time counts toward the step in progress. */
  allreduce(seconds: number, bytes: number): void {
    this.pendingAllreduceSeconds += seconds;
    this.totals.allreduceBytes += bytes;
  }

  /** A step finished: what it added (time by phase, samples, lookups). */
  step(e: StepInfo): StepDelta {
    if (e.epoch !== this.epoch) {
      this.epoch = e.epoch;
      this.last = undefined;
      this.totals = { ...zeroSplit(), allreduceBytes: this.totals.allreduceBytes };
    }
    const prev = this.last;
    const readMs = e.counters.readMs + e.counters.prefixMs - (prev ? prev.counters.readMs + prev.counters.prefixMs : 0);
    const durationSeconds = Math.max(0, e.seconds - (prev?.seconds ?? 0));
    const readSeconds = Math.max(0, readMs / 1000);
    const allreduceSeconds = this.pendingAllreduceSeconds;
    this.pendingAllreduceSeconds = 0;
    const computeSeconds = Math.max(0, durationSeconds - readSeconds - allreduceSeconds);
    this.totals.readSeconds += readSeconds;
    this.totals.computeSeconds += computeSeconds;
    this.totals.allreduceSeconds += allreduceSeconds;
    this.last = e;
    return {
      durationSeconds,
      readSeconds,
      computeSeconds,
      allreduceSeconds,
      // counters only grow: a report that went back (it cannot, within an epoch) adds nothing
      samples: Math.max(0, e.samples - (prev?.samples ?? 0)),
      hits: Math.max(0, e.counters.hits - (prev?.counters.hits ?? 0)),
      misses: Math.max(0, e.counters.misses - (prev?.counters.misses ?? 0)),
    };
  }

  /** The current epoch's totals (allreduce bytes: since the start of the run). */
  get split(): StepSplit {
    return { ...this.totals };
  }

  /** Validation's allreduce is not a step's: drop what no step claimed. */
  endEpoch(): void {
    this.pendingAllreduceSeconds = 0;
  }
}

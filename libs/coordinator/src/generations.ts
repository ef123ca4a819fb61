/**
 * The coordinator's bookkeeping of membership changes (docs/distributed.md#a-new-generation).
 *
 * A Reform is one change in progress: who left and why, and the Halted reports of the members
 * still there (each one's newest commit). The next generation resumes at the newest step any
 * survivor has committed: a step that completed on one rank had every rank's share in its
 * reduction, so it is in the weights, and the ranks one step behind take the state from a rank
 * that has it.
 *
 * The ShardLedger keeps exactly-once accounting whole across changes: a worker that left took
 * the list of ids it trained this epoch with it, so the ids its shards trained before the resume
 * step (since it took them over, or since the epoch began) are credited to the epoch; the
 * survivors' lists are rolled back to the resume step and the new owners train the rest. After a
 * restarted coordinator took the fleet back, the steps before its resume step count as trained
 * (takeover.ts).
 */
import { localEpochPlan } from '@permafrost/data';
import type { MembershipEntry } from '@permafrost/trainer';

/** One membership change, for the log and the report (the report's `membership` entries). */
export type MembershipChange = MembershipEntry;

export interface HaltReport {
  step: number;
  hasState: boolean;
}

export class Reform {
  readonly startedAt = performance.now();
  readonly left = new Map<string, string>();
  readonly halted = new Map<string, HaltReport>();
  /** running while the job is below minWorkers */
  rejoinTimer: NodeJS.Timeout | undefined;
  /** the job is failing (it waited for workers in vain, or the coordinator stops): no generation forms from this change */
  closing = false;
  /** a stopping coordinator's wait: called once every member has halted or left */
  allHalted: (() => void) | undefined;
  /** the pause before this generation forms (regroup-backoff.ts): running, or over */
  pause: 'running' | 'over' | undefined;

  constructor(readonly reason: string) {}

  /** Of `members`, those that have neither halted nor left. */
  waitingFor(members: readonly string[]): string[] {
    return members.filter((id) => !this.halted.has(id) && !this.left.has(id));
  }

  /** The newest committed step among `survivors` and a survivor holding it; undefined if none has state. */
  resumePoint(survivors: readonly string[]): { step: number; stateWorker: string } | undefined {
    let best: { step: number; stateWorker: string } | undefined;
    for (const id of [...survivors].sort()) {
      const h = this.halted.get(id);
      if (h?.hasState && (!best || h.step > best.step)) best = { step: h.step, stateWorker: id };
    }
    return best;
  }

  get seconds(): number {
    return (performance.now() - this.startedAt) / 1000;
  }
}

export interface LedgerOptions {
  trainIds: readonly number[];
  seed: number;
  globalBatch: number;
  shardCount: number;
  stepsPerEpoch: number;
}

export class ShardLedger {
  /** per shard, the global step its current owner took it over at (absent: from the start) */
  private readonly since = new Map<number, number>();
  private creditedIds: number[] = [];
  /** where a restarted coordinator took the fleet back (takeover.ts) */
  private takenOver: { epoch: number; step: number } | undefined;

  constructor(private readonly o: LedgerOptions) {}

  /** ids credited to the current epoch */
  get credited(): readonly number[] {
    return this.creditedIds;
  }

  startEpoch(): void {
    this.creditedIds = [];
  }

  /** A worker that owned `shards` left: what they trained in `epoch` before `resumeStep` counts. */
  credit(epoch: number, shards: readonly number[], resumeStep: number): void {
    const first = (epoch - 1) * this.o.stepsPerEpoch;
    for (const shard of shards) {
      const from = Math.max(first, this.since.get(shard) ?? 0);
      if (resumeStep <= from) continue;
      const plan = localEpochPlan(this.o.trainIds, this.o.seed, epoch, this.o.globalBatch, [shard], this.o.shardCount);
      for (const ids of plan.steps.slice(from - first, resumeStep - first)) this.creditedIds.push(...ids);
    }
  }

  /**
   * The job resumed from a checkpoint of global step `step` in `epoch` (a mid-epoch one,
   * commit-checkpoint.ts): the steps before it were trained by the run that wrote it.
   */
  resumed(epoch: number, step: number): void {
    this.credit(
      epoch,
      Array.from({ length: this.o.shardCount }, (_, s) => s),
      step,
    );
  }

  /**
   * A restarted coordinator took the fleet back in `epoch` at global step `step`: every shard's
   * owner counts from there, and the ids of the steps before it that no rank reports count as
   * trained (creditedFor).
   */
  takeover(epoch: number, step: number): void {
    this.takenOver = { epoch, step };
    for (let shard = 0; shard < this.o.shardCount; shard++) this.since.set(shard, step);
  }

  /** The ids credited to `epoch`, given the ids the ranks reported for it. */
  creditedFor(epoch: number, reported: readonly number[]): readonly number[] {
    const t = this.takenOver;
    if (t?.epoch !== epoch) return this.creditedIds;
    const first = (epoch - 1) * this.o.stepsPerEpoch;
    const shards = Array.from({ length: this.o.shardCount }, (_, s) => s);
    const plan = localEpochPlan(this.o.trainIds, this.o.seed, epoch, this.o.globalBatch, shards, this.o.shardCount);
    const known = new Set([...reported, ...this.creditedIds]);
    const before = plan.steps.slice(0, t.step - first).flat();
    return [...this.creditedIds, ...before.filter((id) => !known.has(id))];
  }

  /** Shards whose owner changed at `step`. */
  moved(before: ReadonlyMap<string, readonly number[]>, after: ReadonlyMap<string, readonly number[]>, step: number): void {
    const ownerBefore = new Map<number, string>();
    for (const [w, shards] of before) for (const s of shards) ownerBefore.set(s, w);
    for (const [w, shards] of after) for (const s of shards) if (ownerBefore.get(s) !== w) this.since.set(s, step);
  }
}

/**
 * Taking back the workers of a lost coordinator (docs/distributed.md#losing-the-coordinator).
 *
 * Workers that lost their coordinator keep their state and call Join again, each saying which
 * generation it was in and the step and epoch of its newest commit (JoinRequest.rejoin). A
 * coordinator restarted with `--resume` collects these reports while its membership forms. If
 * any member comes back with state, the first generation it forms is numbered after every
 * generation a worker came back from (so every data connection and message of the old ones is
 * refused), every member is answered on standby, and once all have said Hello each gets a
 * Regroup: training continues at the newest step any of them committed, its state copied from
 * the worker holding it over the data plane, exactly as after a membership change
 * (generations.ts). A member that never held state, or that comes back fresh, takes the state
 * the same way. Nobody back with state: the job resumes from the latest checkpoint as `--resume`
 * does without a fleet to take back.
 *
 * The epoch to continue is the one the newest commit belongs to; a commit at an epoch's last step
 * redoes that epoch's end (validation, rank 0's checkpoint, the results), since the lost
 * coordinator may not have received them. Exactly-once accounting for that epoch is the
 * ShardLedger's `takeover`: every step before the resume step completed on every rank of its
 * generation, so the ids of those steps that no rank reports (those of workers that did not come
 * back) count as trained.
 */
import type { JoinRequest } from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';
import type { MembershipChange } from './generations';
import type { Formed } from './membership';

/** What a returning worker holds. */
export interface Returned {
  generation: bigint;
  step: number;
  epoch: number;
  hasState: boolean;
}

export interface TakeoverPoint {
  step: number;
  stateWorker: string;
  epoch: number;
}

export class Takeover {
  private readonly back = new Map<string, Returned>();
  readonly startedAt = performance.now();

  constructor(
    /** this coordinator was started with --resume: it may take workers back */
    private readonly allowed: boolean,
    private readonly stepsPerEpoch: number,
  ) {}

  /**
   * Notes a Join before the membership forms: a returning worker's report, or a fresh start of
   * that id (which forgets an earlier report). A coordinator not started with --resume refuses
   * a returning worker, since it would start the job over under it.
   */
  note(req: JoinRequest): void {
    const r = req.rejoin;
    if (!r) {
      this.back.delete(req.workerId);
      return;
    }
    if (!this.allowed) {
      throw new PermafrostError(
        'failed-precondition',
        `worker ${req.workerId} comes back with the state of generation ${r.generation} at step ${r.committedStep}; only a coordinator started with --resume takes it back`,
      );
    }
    this.back.set(req.workerId, {
      generation: r.generation,
      step: Number(r.committedStep),
      epoch: r.committedEpoch,
      hasState: r.hasState,
    });
  }

  /** Whether the membership formed of `members` continues from a worker's commit. */
  active(members: readonly { workerId: string }[]): boolean {
    return members.some((m) => this.back.get(m.workerId)?.hasState);
  }

  /** The number of the first generation: after every one a worker came back from. */
  generationAfter(current: bigint): bigint {
    let g = current;
    for (const r of this.back.values()) if (r.generation >= g) g = r.generation + 1n;
    return g;
  }

  /** The newest commit among `members`, who holds it (lowest id on a tie), and its epoch. */
  resumePoint(members: readonly string[]): TakeoverPoint | undefined {
    let best: (Returned & { id: string }) | undefined;
    for (const id of [...members].sort()) {
      const r = this.back.get(id);
      if (r?.hasState && (!best || r.step > best.step)) best = { ...r, id };
    }
    if (!best) return undefined;
    const epoch = best.epoch > 0 ? best.epoch : Math.floor(best.step / this.stepsPerEpoch) + 1;
    return { step: best.step, stateWorker: best.id, epoch };
  }

  /** The membership entry of the takeover: who came back, where the job continues. */
  change(formed: Formed, point: TakeoverPoint): MembershipChange {
    return {
      generation: Number(formed.generation),
      epoch: point.epoch,
      resumeStep: point.step,
      workers: formed.members.length,
      left: [],
      joined: formed.members.map((m) => m.workerId),
      excluded: [],
      secondsLost: Math.round(performance.now() - this.startedAt) / 1000,
    };
  }
}

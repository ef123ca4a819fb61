/**
 * A freeze plan: for every global optimizer step of a run, where the frozen boundary is and which
 * learning rate each trainable block uses. Every rank of a fleet derives the same plan from the
 * job spec (policy, blocks, total steps), and the coordinator announces its boundary events in
 * the step plan, so all ranks change the reduced tensor set at the same step.
 *
 * Policies:
 *   prefix     a fixed boundary (a layer name, or all but the last n layers); no events
 *   last-k     all but the last k blocks frozen; a fixed boundary too
 *   none       nothing frozen: the boundary is the model's input, every block trains; no events
 *   freezeout  the trainable blocks after the initial boundary freeze one after another on the
 *              FreezeOut schedule (freezeout-schedule.ts); each freeze moves the boundary to the
 *              end of the newly frozen block, and the head never freezes; from the input
 *              (no boundary given) every block trains until the first freeze
 */
import { type FreezeoutOptions, FreezeoutSchedule } from './freezeout-schedule';

export type FreezePolicy = { policy: 'prefix' } | { policy: 'last-k' } | { policy: 'none' } | ({ policy: 'freezeout' } & FreezeoutOptions);

/** A group of layers that freezes as one; cutting after `last` is a valid boundary. */
export interface PlanBlock {
  name: string;
  /** the block's last layer: the boundary once the block is frozen */
  last: string;
  /** forward FLOPs per sample (an estimate, for previews) */
  flops: number;
}

export interface FreezeEvent {
  /** the first global step (0-based) that trains with the new boundary */
  step: number;
  /** the new boundary: the last layer of the last frozen block */
  boundary: string;
  /** the blocks this event freezes */
  blocks: string[];
}

export class FreezePlan {
  readonly events: FreezeEvent[];
  readonly schedule: FreezeoutSchedule | undefined;

  constructor(
    readonly policy: FreezePolicy,
    /** blocks after the initial boundary, earliest first (the head excluded) */
    readonly blocks: readonly PlanBlock[],
    readonly initialBoundary: string,
    readonly totalSteps: number,
  ) {
    this.schedule = policy.policy === 'freezeout' ? new FreezeoutSchedule(blocks.length, totalSteps, policy) : undefined;
    this.events = [];
    const s = this.schedule;
    if (!s) return;
    for (let i = 0; i < blocks.length; i++) {
      const step = s.freezeSteps[i] as number;
      if (step >= totalSteps) break;
      const block = blocks[i] as PlanBlock;
      const last = this.events.at(-1);
      if (last && last.step === step) {
        last.boundary = block.last;
        last.blocks.push(block.name);
      } else {
        this.events.push({ step, boundary: block.last, blocks: [block.name] });
      }
    }
  }

  /** The boundary in effect for global step k. */
  boundaryAt(step: number): string {
    let b = this.initialBoundary;
    for (const e of this.events) if (e.step <= step) b = e.boundary;
    return b;
  }

  /** Blocks frozen (beyond the initial boundary) at step k. */
  frozenBlocksAt(step: number): number {
    return this.schedule?.frozenCount(step) ?? 0;
  }

  /** The event that takes effect exactly at step k, if any. */
  eventAt(step: number): FreezeEvent | undefined {
    return this.events.find((e) => e.step === step);
  }

  /**
   * Learning rate per trainable block at step k (block name -> rate), for base rate a(0); frozen
   * blocks are absent. Without a schedule every block trains at the base rate.
   */
  learningRates(step: number, baseLr: number): Map<string, number> {
    const out = new Map<string, number>();
    this.blocks.forEach((b, i) => {
      if (!this.schedule) out.set(b.name, baseLr);
      else if (!this.schedule.isFrozen(i, step)) out.set(b.name, this.schedule.learningRate(i, step, baseLr));
    });
    return out;
  }
}

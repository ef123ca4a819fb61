/**
 * In-memory commits of a rank's training state, one after every completed step
 * (docs/distributed.md#commit-and-roll-back): the global step, the epoch's progress (samples,
 * loss and cache sums, how many ids it has trained), the weights training changes and the
 * optimizer slots (training-state.ts). The frozen part never changes, so a commit copies only the
 * suffix: a few hundred KiB for the bundled job.
 *
 * Two commits are kept, their buffers reused: when a collective fails, ranks may disagree by one
 * step about whether it completed (a ring's last chunk reaches some ranks and not others), and
 * the new generation resumes from the newest step any survivor completed.
 */

import type * as tf from '@tensorflow/tfjs-core';
import { type BatchCounters, emptyCounters } from './activation-source';
import type { BlockOptimizers } from './block-optimizers';
import { packSlots, packWeights, type SlotLayout } from './training-state';

/** What one epoch has trained so far on this rank. */
export interface EpochProgress {
  epoch: number;
  samples: number;
  lossSum: number;
  counters: BatchCounters;
  ids: number[];
}

export function freshProgress(epoch: number): EpochProgress {
  return { epoch, samples: 0, lossSum: 0, counters: emptyCounters(), ids: [] };
}

export interface Commit {
  /** global steps completed: steps 0 .. step - 1 are in this state */
  step: number;
  progress: Omit<EpochProgress, 'ids'> & { ids: number[]; idCount: number };
  weights: Float32Array;
  slots: Float32Array;
  layout: SlotLayout;
  /** milliseconds the copy took */
  ms: number;
}

export class StepCommits {
  private readonly kept: Commit[] = [];
  /** commits made and the milliseconds they took, for the worker's last log line */
  readonly cost = { count: 0, totalMs: 0, maxMs: 0 };

  constructor(
    /** the variables a commit copies (training-state.ts: weights) */
    readonly vars: readonly tf.Variable[],
    private readonly optimizers: BlockOptimizers,
  ) {}

  get latest(): Commit | undefined {
    return this.kept[this.kept.length - 1];
  }

  /** the commit of global step `step`, if still kept */
  at(step: number): Commit | undefined {
    return this.kept.find((c) => c.step === step);
  }

  /** Copies the state after `step` completed steps; the oldest of two commits gives its buffers. */
  async commit(step: number, progress: EpochProgress): Promise<Commit> {
    const t0 = performance.now();
    const reuse = this.kept.length >= 2 ? this.kept.shift() : undefined;
    const weights = packWeights(this.vars, reuse?.weights);
    const { data, layout } = await packSlots(this.optimizers, reuse?.slots);
    const c: Commit = {
      step,
      progress: { ...progress, counters: { ...progress.counters }, idCount: progress.ids.length },
      weights,
      slots: data,
      layout,
      ms: 0,
    };
    c.ms = performance.now() - t0;
    this.cost.count++;
    this.cost.totalMs += c.ms;
    this.cost.maxMs = Math.max(this.cost.maxMs, c.ms);
    this.kept.push(c);
    return c;
  }

  /** The progress a commit holds, as the loop continues from it. */
  static progressOf(c: Commit): EpochProgress {
    const p = c.progress;
    return { epoch: p.epoch, samples: p.samples, lossSum: p.lossSum, counters: { ...p.counters }, ids: p.ids.slice(0, p.idCount) };
  }

  /** Forgets commits after `step` (they were rolled back). */
  dropAfter(step: number): void {
    for (let i = this.kept.length - 1; i >= 0; i--) if ((this.kept[i] as Commit).step > step) this.kept.splice(i, 1);
  }
}

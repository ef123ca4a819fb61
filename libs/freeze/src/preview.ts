/**
 * The schedule preview `train --dry-run` and the coordinator print: per trainable block its freeze
 * time, step and epoch and its share of the forward cost, and two expected speedups over training
 * the same blocks without freezing (and without the cache), counted in forward FLOPs over the
 * run's training steps (validation left out):
 *
 *   baseline   every step: P + 2F + 2H      (P: frozen prefix forward, F: trainable blocks, H: head;
 *                                            backward cost = forward cost, as the paper assumes)
 *   paper      frozen blocks leave the backward pass but still run forward every step:
 *              T (P + F + 2H) + sum_i f_i min(s_i, T)
 *   cached     the prefix runs once per sample (one epoch's worth of steps, E); a trainable block
 *              costs 2 f_i per step until it freezes at s_i, then runs once more per sample to
 *              advance the cache, and never again:
 *              min(E, T) P + sum_i (2 f_i min(s_i, T) + [s_i < T] f_i E) + 2 H T
 */
import type { FreezePlan } from './freeze-plan';

export interface BlockPreview {
  block: string;
  /** t_i; undefined without a schedule */
  freezeTime: number | undefined;
  /** first frozen global step; undefined: trains to the end */
  freezeStep: number | undefined;
  /** the (1-based) epoch in which that step falls */
  freezeEpoch: number | undefined;
  /** this block's share of the whole model's forward FLOPs */
  forwardShare: number;
}

export interface SchedulePreview {
  policy: string;
  totalSteps: number;
  stepsPerEpoch: number;
  blocks: BlockPreview[];
  /** the paper's estimate: frozen layers still run forward */
  paperSpeedup: number;
  /** ours: frozen layers no longer run after the boundary's first pass */
  cachedSpeedup: number;
}

export function previewSchedule(
  plan: FreezePlan,
  opts: { stepsPerEpoch: number; prefixFlops: number; headFlops: number },
): SchedulePreview {
  const T = plan.totalSteps;
  const E = Math.min(opts.stepsPerEpoch, T);
  const P = opts.prefixFlops;
  const H = opts.headFlops;
  const f = plan.blocks.map((b) => b.flops);
  const F = f.reduce((a, b) => a + b, 0);
  const total = P + F + H;
  const s = f.map((_, i) => plan.schedule?.freezeSteps[i] ?? T);
  const baseline = T * (P + 2 * F + 2 * H);
  const paper = T * (P + F + 2 * H) + f.reduce((a, fi, i) => a + fi * Math.min(s[i] as number, T), 0);
  const cached =
    E * P + f.reduce((a, fi, i) => a + 2 * fi * Math.min(s[i] as number, T) + ((s[i] as number) < T ? fi * E : 0), 0) + 2 * H * T;
  return {
    policy: plan.policy.policy,
    totalSteps: T,
    stepsPerEpoch: opts.stepsPerEpoch,
    blocks: plan.blocks.map((b, i) => {
      const step = (s[i] as number) < T ? (s[i] as number) : undefined;
      return {
        block: b.name,
        freezeTime: plan.schedule?.times[i],
        freezeStep: step,
        freezeEpoch: step === undefined ? undefined : Math.floor(step / opts.stepsPerEpoch) + 1,
        forwardShare: total > 0 ? b.flops / total : 0,
      };
    }),
    paperSpeedup: baseline / paper,
    cachedSpeedup: baseline / cached,
  };
}

/** The preview as an aligned text table plus the two estimates. */
export function formatPreview(p: SchedulePreview): string {
  const rows = [
    ['block', 't_i', 'freeze step', 'epoch', 'fwd share'],
    ...p.blocks.map((b) => [
      b.block,
      b.freezeTime === undefined ? '-' : b.freezeTime.toFixed(3),
      b.freezeStep === undefined ? 'never' : String(b.freezeStep),
      b.freezeEpoch === undefined ? '-' : String(b.freezeEpoch),
      `${(100 * b.forwardShare).toFixed(1)}%`,
    ]),
  ];
  const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length)));
  const lines = rows.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('  '),
  );
  return [
    `freeze policy ${p.policy}: ${p.totalSteps} steps (${p.stepsPerEpoch} per epoch)`,
    ...lines,
    `expected speedup over no freezing: ${p.paperSpeedup.toFixed(2)}x frozen layers still running forward (the paper's estimate), ${p.cachedSpeedup.toFixed(2)}x with the cache`,
  ].join('\n');
}

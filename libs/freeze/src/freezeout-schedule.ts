/**
 * FreezeOut (Brock, Lim, Ritchie, Weston 2017): every trainable block anneals its own learning
 * rate to zero on a cosine, and freezes when it gets there.
 *
 * For block i of L trainable blocks (i = 0 is the earliest), with t the fraction of training done:
 *
 *   t_i   = f(t0 + (1 - t0) * i / L)       f = identity | square | cube (linear|squared|cubic)
 *   a_i(t) = 0.5 * a_i(0) * (1 + cos(pi * t / t_i))     while t <= t_i; frozen once t > t_i
 *   a_i(0) = a(0) / t_i with learning-rate scaling, else a(0)
 *
 * t0 is given before the power is applied, as the paper does (cubic with t0 = 0.8 starts freezing
 * at 0.512). Scaling makes every block's area under its learning-rate curve equal to that of a
 * block trained at a(0) for the whole run. The head plays the role of i = L (t_L = 1) but never
 * freezes; it keeps the run's base learning rate.
 *
 * Training runs in discrete steps k = 0..T-1 with t = k / T, so block i takes its last update at
 * the last k with k / T <= t_i, and is frozen from freezeStep_i = floor(t_i * T) + 1 on.
 */

export type ScheduleShape = 'linear' | 'squared' | 'cubic';

export interface FreezeoutOptions {
  /** default cubic, the paper's recommendation */
  schedule: ScheduleShape;
  /** the first block's freeze time before the power is applied, in (0, 1]; default 0.8 */
  t0: number;
  /** a_i(0) = a(0) / t_i; default true */
  scaleLr: boolean;
}

export const DEFAULT_FREEZEOUT: FreezeoutOptions = { schedule: 'cubic', t0: 0.8, scaleLr: true };

const POWER: Record<ScheduleShape, number> = { linear: 1, squared: 2, cubic: 3 };

/** t_i for each of `blocks` trainable blocks, earliest first. */
export function freezeTimes(blocks: number, opts: FreezeoutOptions): number[] {
  if (!(opts.t0 > 0 && opts.t0 <= 1)) throw new RangeError(`t0 must be in (0, 1], got ${opts.t0}`);
  const p = POWER[opts.schedule];
  return Array.from({ length: blocks }, (_, i) => (opts.t0 + ((1 - opts.t0) * i) / blocks) ** p);
}

export class FreezeoutSchedule {
  /** t_i per block */
  readonly times: number[];
  /** first global step at which each block is frozen (may be >= totalSteps: never within the run) */
  readonly freezeSteps: number[];

  constructor(
    readonly blocks: number,
    /** T: optimizer steps in the whole run */
    readonly totalSteps: number,
    readonly opts: FreezeoutOptions = DEFAULT_FREEZEOUT,
  ) {
    if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new RangeError(`totalSteps must be a positive integer, got ${totalSteps}`);
    this.times = freezeTimes(blocks, opts);
    this.freezeSteps = this.times.map((t) => Math.floor(t * totalSteps + 1e-9) + 1);
  }

  /** Learning rate of block i at global step k, for a base learning rate a(0); 0 once frozen. */
  learningRate(i: number, step: number, baseLr: number): number {
    const ti = this.times[i];
    if (ti === undefined) throw new RangeError(`no block ${i}`);
    if (this.isFrozen(i, step)) return 0;
    const t = step / this.totalSteps;
    const a0 = this.opts.scaleLr ? baseLr / ti : baseLr;
    return 0.5 * a0 * (1 + Math.cos((Math.PI * t) / ti));
  }

  isFrozen(i: number, step: number): boolean {
    return step >= (this.freezeSteps[i] ?? Number.POSITIVE_INFINITY);
  }

  /** Blocks frozen at step k (a prefix of the trainable blocks, since t_i grows with i). */
  frozenCount(step: number): number {
    let n = 0;
    while (n < this.blocks && this.isFrozen(n, step)) n++;
    return n;
  }
}

/**
 * How steady this machine's vCPUs are, for scaling.ts: the same unit of work (core-speed-child.ts)
 * timed over and over on each vCPU alone, then on every vCPU at once, each probe pinned to its
 * vCPU with taskset. On dedicated cores a unit takes the same time everywhere and always; on a
 * shared host a vCPU runs slower whenever the host gives its core to someone else.
 *
 * Workers that reduce every step's gradient move at the pace of the slower one, so what matters
 * for them is how far apart the vCPUs run at the same moment. With all vCPUs busy, the run is cut
 * into windows of one training step's length; in each, a unit's mean time per vCPU says how fast it ran there. Two
 * processes in lockstep over that window do the work of two units each time the slower vCPU does
 * one, where two independent ones do the sum of both rates: the ratio of the two, over the whole
 * run, is what synchronous training keeps of two vCPUs here before any work of its own.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { median, runVariant } from './bench-util';

const CHILD = resolve(import.meta.dirname, 'core-speed-child.ts');

interface Probe {
  /** unit start, ms after the common start */
  at: number[];
  /** unit duration, ms */
  ms: number[];
}

export interface Spread {
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

export interface CoreSpeed {
  /** per vCPU, unit ms while it alone is busy */
  alone: Spread[];
  /** per vCPU, unit ms while every vCPU is busy */
  together: Spread[];
  windowMs: number;
  /** windows with every vCPU busy: the slowest vCPU's unit time over the fastest's, median and p90 */
  skew: { median: number; p90: number };
  /** what lockstep keeps of all vCPUs' combined rate (1 on dedicated cores) */
  lockstepKeeps: number;
  /**
   * units per second of all vCPUs busy at once over that of one vCPU alone (the vCPU count on
   * dedicated cores); measured seconds apart, so it moves with whatever the host does meanwhile
   */
  allOverOne: number;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  return { median: median(s), p10: quantile(s, 0.1), p90: quantile(s, 0.9), min: s[0] ?? Number.NaN, max: s.at(-1) ?? Number.NaN };
}

/** Mean unit ms per window of `windowMs` (undefined where no unit started). */
function windows(p: Probe, windowMs: number): (number | undefined)[] {
  const sums: number[] = [];
  const counts: number[] = [];
  p.at.forEach((a, i) => {
    const w = Math.floor(a / windowMs);
    sums[w] = (sums[w] ?? 0) + (p.ms[i] ?? 0);
    counts[w] = (counts[w] ?? 0) + 1;
  });
  return sums.map((s, w) => (counts[w] ? s / (counts[w] as number) : undefined));
}

function probe(cores: readonly number[], seconds: number): Promise<Probe[]> {
  const startAt = String(Date.now() + 3_000);
  return Promise.all(
    cores.map((c) =>
      runVariant<Probe>(CHILD, 'probe', ['--seconds', String(seconds), '--start-at', startAt], 120_000, [], ['taskset', '-c', String(c)]),
    ),
  );
}

/** Whether vCPUs can be pinned here (taskset, from util-linux). */
export function canPin(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Each vCPU alone, then all at once, `seconds` each; lockstep judged per `windowMs`. */
export async function probeCoreSpeed(seconds: number, windowMs: number): Promise<CoreSpeed> {
  const cores = cpus().map((_, i) => i);
  const alone: number[][] = [];
  for (const c of cores) alone.push((await probe([c], seconds))[0]?.ms ?? []);
  const all = await probe(cores, seconds);
  const together = all.map((p) => p.ms);
  const skews: number[] = [];
  let lockstepRate = 0;
  let independentRate = 0;
  const perCore = all.map((p) => windows(p, windowMs));
  const n = Math.min(...perCore.map((w) => w.length));
  for (let w = 0; w < n; w++) {
    const t = perCore.map((x) => x[w]);
    if (t.some((x) => x === undefined)) continue;
    const ms = t as number[];
    const slowest = Math.max(...ms);
    skews.push(slowest / Math.min(...ms));
    lockstepRate += ms.length / slowest;
    independentRate += ms.reduce((a, x) => a + 1 / x, 0);
  }
  const s = [...skews].sort((a, b) => a - b);
  // units per second over the whole time busy, so slow stretches count for their length
  const rate = (ms: readonly number[]) => (1000 * ms.length) / ms.reduce((a, x) => a + x, 0);
  const allOverOne = together.reduce((a, ms) => a + rate(ms), 0) / (alone.reduce((a, ms) => a + rate(ms), 0) / cores.length);
  const lockstepKeeps = lockstepRate / independentRate;
  return {
    alone: alone.map(spread),
    together: together.map(spread),
    windowMs,
    skew: { median: median(s), p90: quantile(s, 0.9) },
    lockstepKeeps,
    allOverOne,
  };
}

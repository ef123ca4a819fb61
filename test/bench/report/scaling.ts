/**
 * scaling: cached-epoch throughput of 2 local workers against 1 (test/bench/scaling.ts), with
 * what bounds it on the machine: a step's cost at the full and half batch, two trainers sharing
 * nothing or in lockstep, and the vCPUs' own speed after every round. Medians and ratios are
 * recomputed here from the jobs' per-epoch samples/s.
 */

import type { Run } from '../scaling';
import { median } from '../support/bench-util';
import { setup, table, times, verdict } from './markdown';
import type { ResultBase, Section } from './section';

const TARGET = 1.6;

interface StepTimes {
  median: number;
  mean: number;
}

interface Result extends ResultBase {
  samples: number;
  runs: Run[];
  ratios: Record<string, unknown>;
  epoch1: { one: number; two: number; ratio: number };
  msPerStep: Record<string, number>;
  ceilings: Record<string, Record<'alone' | 'together' | 'lockstep', StepTimes[]>>;
  coreRounds: { alone: { p10: number; p90: number }[]; windowMs: number; skew: { median: number; p90: number }; lockstepKeeps: number }[];
}

/** A comparison: the global batch of 1 worker and of 2 workers, from the labels the benchmark writes. */
interface Pairing {
  label: string;
  one: number;
  two: number;
}

function pairings(r: Result): Pairing[] {
  return Object.keys(r.ratios).map((label) => {
    const perWorker = /^same batch (\d+) per worker$/.exec(label);
    if (perWorker) return { label, one: Number(perWorker[1]), two: 2 * Number(perWorker[1]) };
    const b = Number(/^same global batch (\d+)$/.exec(label)?.[1] ?? Number.NaN);
    return { label, one: b, two: b };
  });
}

// each job's first epoch warms up the JIT and the kernels: left out, as the benchmark does
function cached(r: Result, workers: number, batch: number, key: 'epochSamplesPerSec' | 'epochWallSamplesPerSec', round?: number) {
  const jobs = r.runs.filter(
    (x) => x.workers === workers && x.batch === batch && x.round > 0 && (round === undefined || x.round === round),
  );
  return median(jobs.flatMap((x) => x[key].slice(1)));
}

const ratio = (r: Result, p: Pairing, round?: number) =>
  cached(r, 2, p.two, 'epochSamplesPerSec', round) / cached(r, 1, p.one, 'epochSamplesPerSec', round);

function command(r: Result, ps: Pairing[]): string {
  const cachedRuns = r.runs.filter((x) => x.round > 0);
  const rounds = Math.max(...cachedRuns.map((x) => x.round));
  const epochs = cachedRuns[0]?.epochSamplesPerSec.length ?? 0;
  const global = ps.filter((p) => p.one === p.two).map((p) => p.one);
  const local = ps.filter((p) => p.one !== p.two).map((p) => p.one);
  return `npx nx run bench:scaling -- --samples ${r.samples} --batches ${global.join(',')} --local-batches ${local.join(',')} --rounds ${rounds} --epochs ${epochs}`;
}

function ceilingRows(r: Result): string[][] {
  return Object.entries(r.ceilings).map(([b, t]) => {
    const of = (k: 'alone' | 'together' | 'lockstep', m: keyof StepTimes) => median(t[k].map((x) => x[m]));
    const pair = (k: 'alone' | 'together' | 'lockstep') => `${of(k, 'median').toFixed(2)} / ${of(k, 'mean').toFixed(2)}`;
    const twoOverOne = (k: 'together' | 'lockstep', m: keyof StepTimes) => (2 * of('alone', m)) / of(k, m);
    return [
      b,
      pair('alone'),
      pair('together'),
      times(twoOverOne('together', 'median')),
      pair('lockstep'),
      `${times(twoOverOne('lockstep', 'median'))} / ${times(twoOverOne('lockstep', 'mean'))}`,
    ];
  });
}

function coreLines(r: Result, ps: Pairing[]): string[] {
  if (r.coreRounds.length === 0) return ['The vCPUs themselves: not measured (taskset was not available to pin a probe to each vCPU).'];
  const perWorker = ps.find((p) => p.two === 2 * p.one) ?? ps[0];
  const window = r.coreRounds[0]?.windowMs ?? Number.NaN;
  const keeps = median(r.coreRounds.map((c) => c.lockstepKeeps));
  const together = median(
    Object.values(r.ceilings).map((t) => (2 * median(t.alone.map((x) => x.median))) / median(t.together.map((x) => x.median))),
  );
  return [
    `The vCPUs themselves, after every round of jobs (support/core-speed.ts): a unit of pure integer arithmetic timed over and over on each vCPU alone, then on all at once, each probe pinned with taskset. "slower over faster": with all vCPUs busy, per window of ${window} ms, the slower vCPU's mean unit time over the faster one's. "lockstep keeps": what two processes that wait for each other once per window do, over what the vCPUs do independently in the same windows (100% on dedicated cores).`,
    '',
    table(
      [
        'round',
        `jobs: ${perWorker?.label ?? ''}`,
        'unit ms, one vCPU alone (p10-p90)',
        'slower over faster vCPU (median / p90)',
        'lockstep keeps',
      ],
      r.coreRounds.map((c, i) => [
        String(i + 1),
        perWorker ? times(ratio(r, perWorker, i + 1)) : 'n/a',
        `${Math.min(...c.alone.map((x) => x.p10)).toFixed(2)}-${Math.max(...c.alone.map((x) => x.p90)).toFixed(2)}`,
        `${times(c.skew.median)} / ${times(c.skew.p90)}`,
        `${(100 * c.lockstepKeeps).toFixed(0)}%`,
      ]),
    ),
    '',
    `Lockstep keeps ${(100 * keeps).toFixed(0)}% (median over the rounds) of two vCPUs; times the ${times(together)} two trainers sharing nothing got above, a synchronous pair of workers can reach at most ${times(keeps * together)} one worker on this machine, before its own exchange, imbalance or cache reads.`,
  ];
}

export const scaling: Section = {
  name: 'scaling',
  summary: 'cached-epoch throughput of 2 local workers against 1, and what bounds it on the machine',
  render(json) {
    const r = json as Result;
    const ps = pairings(r);
    const fill = r.runs.find((x) => x.round === 0)?.batch ?? Number.NaN;
    const steps = ps
      .filter((p) => p.one === p.two)
      .map((p) => {
        const [full, half] = [r.msPerStep[p.one] ?? Number.NaN, r.msPerStep[Math.ceil(p.one / 2)] ?? Number.NaN];
        return [String(p.one), full, half, times(full / half)];
      });
    const passed = ps.filter((p) => ratio(r, p) >= TARGET).length;
    return [
      ...setup(command(r, ps), r.date, r.machine, [
        `job: \`permafrost coordinator start --local-workers N\`, mobilenet_v2 96x96 / out_relu / gap-128-10, ${r.samples} Fashion-MNIST samples, 64 validation samples, gradients over the default transport`,
        "per worker count, one epoch on fresh caches; then rounds of one job per configuration, alternating; training samples/s of cached epochs (every sample a hit), median over the jobs, each job's first epoch (warm-up) left out",
        '"training": the report\'s samplesPerSec (the step loop, timed by the slowest rank); "wall": over the coordinator\'s clock for the whole epoch (adds validation and the rank-0 checkpoint)',
        "same global batch: 2 workers reproduce 1 worker's updates; same batch per worker: the global batch doubles (how Horovod and DDP report scaling)",
      ]),
      '',
      table(
        ['comparison', 'global batch, 1 / 2 workers', 'training, 1 worker', 'training, 2 workers', 'ratio'].concat([
          'wall, 1 worker',
          'wall, 2 workers',
          'ratio',
        ]),
        ps.map((p) => {
          const [t1, t2] = [cached(r, 1, p.one, 'epochSamplesPerSec'), cached(r, 2, p.two, 'epochSamplesPerSec')];
          const [w1, w2] = [cached(r, 1, p.one, 'epochWallSamplesPerSec'), cached(r, 2, p.two, 'epochWallSamplesPerSec')];
          return [p.label, `${p.one} / ${p.two}`, t1, t2, times(t2 / t1), w1, w2, times(w2 / w1)];
        }),
      ),
      '',
      `Epoch 1 on fresh caches (the frozen prefix runs for every sample, split between the workers), global batch ${fill}: ${r.epoch1.one.toFixed(1)} samples/s with 1 worker, ${r.epoch1.two.toFixed(1)} with 2, ${times(r.epoch1.two / r.epoch1.one)}.`,
      '',
      'A cached step of the head alone (one process, random activations, no network; median ms). At the same global batch every replica runs a whole step on half the batch, so the step at the full batch over the step at half of it bounds what 2 workers can gain there:',
      '',
      table(['global batch', 'step at the full batch, ms', 'step at half the batch, ms', 'most 2 workers can gain'], steps),
      '',
      'The same step (random activations, no cache, no coordinator) in one process alone, in two processes at once that share nothing (each with --single-threaded-gc), and in two processes in lockstep that reduce every step\'s gradient through the workers\' pair allreduce; ms per step as median / mean over 3 rounds; "two over one" is twice the lone step time over the paired one:',
      '',
      table(
        ['batch per process', 'alone, ms per step', 'two sharing nothing, ms per step', 'two over one'].concat([
          'two in lockstep, ms per step',
          'two over one (median / mean)',
        ]),
        ceilingRows(r),
      ),
      '',
      ...coreLines(r, ps),
      '',
      `Target: cached epochs with 2 workers at least ${TARGET}x 1 worker (training samples/s). Verdict: ${verdict(passed, ps.length)}; ${ps.map((p) => `${p.label} ${times(ratio(r, p))}`).join(', ')}.`,
    ];
  },
  headline(json) {
    const r = json as Result;
    const ps = pairings(r);
    const perWorker = ps.find((p) => p.two === 2 * p.one) ?? ps[0];
    const value = perWorker ? ratio(r, perWorker) : Number.NaN;
    return {
      figure: `2 workers vs 1, cached epochs, ${perWorker?.label ?? ''}: ${times(value)}`,
      target: `>= ${TARGET}x`,
      verdict: value >= TARGET ? 'met' : 'not met',
    };
  },
};

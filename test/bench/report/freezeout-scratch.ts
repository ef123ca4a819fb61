/**
 * freezeout-scratch: resnet-small from scratch with no freezing, FreezeOut from the input without
 * the cache (the paper's method) and with it, plus a sweep of the cached variant over t0 and the
 * schedules (test/bench/freezeout-scratch.ts). Ratios and relative validation errors are
 * recomputed here from each variant's wall seconds and final accuracy; a run whose load average
 * exceeded the vCPUs is shown but not judged. A result without an `augment` field trained on
 * the inputs as decoded. With several rounds the tables show the round of the median (a) / (c)
 * and one line the spread of each ratio; the ceiling (roundCeiling) and the tighter one-pass bound
 * (roundOnePass) bound what any cache could give the schedule, from (b)'s own per-epoch times.
 */
import { foreignLine, foreignNote, metOrNot, optional, setup, signedPercent, table, times, verdict } from './markdown';
import type { ResultBase, Section } from './section';

interface Variant {
  variant: string;
  backend: string;
  threads?: number;
  gemm?: string;
  /** cache.views it trained with; absent: no augmentation */
  views?: number;
  wallSeconds: number;
  trainSeconds: number;
  epochs: {
    epoch: number;
    seconds: number;
    valSeconds?: number;
    /** the boundary at the epoch's end: 'input' while nothing is frozen */
    boundary?: string;
    /** the upstream's time on training batches: reading, augmenting and the frozen prefix */
    prefixSeconds?: number;
    cacheHits?: number;
    cacheMisses?: number;
  }[];
  valAccuracy: number;
  blockSamples: Record<string, number>;
  expected: { paperSpeedup: number; cachedSpeedup: number };
}

interface Result extends ResultBase {
  samples: number;
  val: number;
  epochs: number;
  batch: number;
  lr: number;
  /** the input transforms every variant trained with; null or absent: none */
  augment?: { crop: number; flip: boolean; brightness: number; contrast: number } | null;
  /** cache.views of the cached variants, when augmenting */
  views?: number;
  load: number[];
  /** vCPUs other work kept busy while each variant ran, in the order they ran */
  foreignCpu?: (number | null)[];
  /** the round with the median (a) / (c) */
  results: Round;
  /** every round of (a), (b), (c) in turn; absent: one round (results) */
  rounds?: Round[];
  sweep: Variant[];
}

type Round = Record<'none' | 'paper' | 'cached', Variant>;

const relErr = (a: Variant, v: Variant) => (1 - v.valAccuracy - (1 - a.valAccuracy)) / (1 - a.valAccuracy);

function checks(r: Result) {
  const { none: a, paper: b, cached: c } = r.results;
  const ac = a.wallSeconds / c.wallSeconds;
  return [
    { label: '(a) / (c) wall time', value: times(ac), target: '>= 1.5x', ok: ac >= 1.5 },
    { label: '(c) validation error vs (a), relative', value: signedPercent(relErr(a, c)), target: '<= +3%', ok: relErr(a, c) <= 0.03 },
    { label: '(b) validation error vs (a), relative', value: signedPercent(relErr(a, b)), target: '<= +3%', ok: relErr(a, b) <= 0.03 },
  ];
}

/**
 * What a cache cannot take away from (b), in seconds: (b)'s wall time less its upstream time on
 * training batches (input, augmentation, frozen prefix) and, generously, all its validation time,
 * in every epoch that ends with a frozen block; and `once`, its last epoch's upstream time, one
 * pass of the final frozen prefix over every training sample. Undefined for results without the
 * per-epoch upstream time.
 */
function floorSeconds(round: Round): { unfrozen: number; once: number } | undefined {
  const b = round.paper;
  let saved = 0;
  for (const e of b.epochs) {
    if (e.prefixSeconds === undefined || e.valSeconds === undefined || e.boundary === undefined) return undefined;
    if (e.boundary !== 'input') saved += e.prefixSeconds + e.valSeconds;
  }
  const last = b.epochs.at(-1);
  const once = last && last.boundary !== 'input' ? (last.prefixSeconds ?? 0) : 0;
  return { unfrozen: b.wallSeconds - saved, once };
}

/**
 * The most any cache could give this schedule: (a) over (b) less what a cache hit removes. (c)
 * trains the same unfrozen blocks as (b), so it cannot run faster than that.
 */
function roundCeiling(round: Round): number | undefined {
  const f = floorSeconds(round);
  return f && round.none.wallSeconds / f.unfrozen;
}

/**
 * The ceiling with the frozen prefix run once for every training sample: a cache computes each
 * frozen block at least once per sample after its freeze (once per view drawn, with views), so
 * this bounds (c) too, more tightly.
 */
function roundOnePass(round: Round): number | undefined {
  const f = floorSeconds(round);
  return f && round.none.wallSeconds / (f.unfrozen + f.once);
}

const rounds = (r: Result): Round[] => r.rounds ?? [r.results];

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** The median of `bound` over the rounds; undefined when a round lacks the per-epoch upstream time. */
function overRounds(r: Result, bound: (round: Round) => number | undefined): number | undefined {
  const each = rounds(r).map(bound);
  return each.some((x) => x === undefined) ? undefined : median(each as number[]);
}

const ceiling = (r: Result) => overRounds(r, roundCeiling);
const onePass = (r: Result) => overRounds(r, roundOnePass);

/** min / median / max of a ratio over the rounds. */
function spread(r: Result, f: (round: Round) => number | undefined): string {
  const xs = rounds(r)
    .map(f)
    .filter((x): x is number => x !== undefined);
  return `${times(Math.min(...xs))} / ${times(median(xs))} / ${times(Math.max(...xs))}`;
}

/** The rounds' spread, when there was more than one. */
function roundsLine(r: Result): string | undefined {
  const n = rounds(r).length;
  if (n < 2) return undefined;
  const ac = spread(r, (x) => x.none.wallSeconds / x.cached.wallSeconds);
  const ab = spread(r, (x) => x.none.wallSeconds / x.paper.wallSeconds);
  const cap =
    ceiling(r) === undefined ? '' : `; the ceiling (below) ${spread(r, roundCeiling)}; the one-pass bound ${spread(r, roundOnePass)}`;
  return `\n${n} rounds of (a), (b), (c) in turn; the tables show the round with the median (a) / (c). Over the rounds, min / median / max: (a) / (c) ${ac}; (a) / (b) ${ab}${cap}.`;
}

/** Why the ratios are not judged, when the machine was loaded beyond its vCPUs. */
function loadedNote(r: Result): string | undefined {
  const foreign = foreignNote(r.foreignCpu);
  if (foreign !== null) return foreign ? `not judged: ${foreign}` : undefined;
  const peak = Math.max(...r.load);
  if (peak <= r.machine.cpus) return undefined;
  return `not judged: the load average reached ${peak.toFixed(1)} on ${r.machine.cpus} vCPUs (other work shared the machine), so the wall-time ratios are no evidence either way`;
}

const blockCounts = (v: Variant) =>
  Object.values(v.blockSamples)
    .map((n) => String(n))
    .join(' / ');

/** The command that reproduces the run; a result without augmentation ran what `--augment off` runs. */
const command = (r: Result) =>
  `npx nx run bench:freezeout-scratch -- --samples ${r.samples} --val ${r.val} --epochs ${r.epochs}${r.augment ? ` --views ${r.views}` : ' --augment off'}${r.rounds ? ` --rounds ${r.rounds.length}` : ''}`;

/** The setup line on the augmentation: which transforms, and how each variant met the cache. */
function augmentLine(r: Result): string {
  const a = r.augment;
  if (!a) return 'augmentation: none (every variant trains on the inputs as decoded)';
  const parts = [
    a.crop > 0 ? `random crop with ${a.crop} px zero padding` : undefined,
    a.flip ? 'horizontal flip' : undefined,
    a.brightness > 0 ? `brightness ±${a.brightness}` : undefined,
    a.contrast > 0 ? `contrast ±${a.contrast}` : undefined,
  ].filter(Boolean);
  return `augmentation: ${parts.join(', ')} (\`data.augment\`'s standard set); (a) and (b) a fresh augmentation every epoch drawn from (seed, epoch, sample), uncached (\`cache.views: 0\`); (c) and the sweep the same until their first freeze, then ${r.views} fixed augmented view${r.views === 1 ? '' : 's'} per sample, cached (\`cache.views: ${r.views}\`), each epoch training on one of them${r.sweep.some((v) => v.views !== undefined && v.views !== r.views) ? " (the sweep's views column names the rows that differ)" : ''}`;
}

function mainTable(r: Result): string {
  const { none: a } = r.results;
  const row = (label: string, v: Variant) => [
    label,
    v.wallSeconds,
    times(a.wallSeconds / v.wallSeconds),
    v.valAccuracy.toFixed(4),
    v.epochs.map((e) => e.seconds.toFixed(0)).join(' / '),
    blockCounts(v),
  ];
  return table(
    [
      'variant',
      'wall s',
      'speedup over (a)',
      'val accuracy',
      's per epoch (training)',
      `samples through ${Object.keys(a.blockSamples).join(' / ')}`,
    ],
    [
      row('(a) no freezing (`--freeze none`)', r.results.none),
      row('(b) FreezeOut cubic t0=0.8, no cache (the paper)', r.results.paper),
      row('(c) FreezeOut cubic t0=0.8, cache', r.results.cached),
    ],
  );
}

/** With more than one cached view (in any row), a newly frozen block runs once per view and sample, which the preview does not count. */
function viewsCaveat(r: Result): string {
  if (!r.augment) return '';
  const most = Math.max(r.views ?? 0, ...r.sweep.map((v) => v.views ?? 0));
  return most > 1 ? `; it counts one pass of a newly frozen block per sample, where ${most} cached views take up to ${most}` : '';
}

function sweepTable(r: Result): string {
  const { none: a } = r.results;
  return table(
    ['(c) schedule', 't0', 'views', 'wall s', 'speedup over (a)', 'expected (preview)', 'val accuracy', 'error vs (a)'],
    r.sweep.map((v) => {
      const [, schedule, t0] = v.variant.split(':');
      return [
        schedule ?? '',
        t0 ?? '',
        String(v.views ?? r.views ?? ''),
        v.wallSeconds,
        times(a.wallSeconds / v.wallSeconds),
        times(v.expected.cachedSpeedup),
        v.valAccuracy.toFixed(4),
        signedPercent(relErr(a, v)),
      ];
    }),
  );
}

/** (c)'s training samples served from the cache, per epoch. */
function hitsLine(c: Variant): string | undefined {
  if (c.epochs.some((e) => e.cacheHits === undefined || e.cacheMisses === undefined)) return undefined;
  const hits = c.epochs.map((e) => String(e.cacheHits)).join(' / ');
  return `\n(c)'s training samples read from the cache, per epoch: ${hits} (of ${(c.epochs[0]?.cacheHits ?? 0) + (c.epochs[0]?.cacheMisses ?? 0)}; the rest ran the frozen prefix, or the newly frozen blocks, and were written where a later epoch could read them).`;
}

/**
 * How far apart (b)'s and (c)'s runs of one round ran: the largest relative difference, over the
 * rounds, of their time in the epochs before (b)'s first freeze, where both do the same work.
 * The bounds are measured in (b)'s run, so they hold for (c) only up to this drift.
 */
function drift(r: Result): number {
  const before = (v: Variant, epochs: ReadonlySet<number>) =>
    v.epochs.filter((e) => epochs.has(e.epoch)).reduce((t, e) => t + e.seconds + (e.valSeconds ?? 0), 0);
  return Math.max(
    ...rounds(r).map(({ paper, cached }) => {
      const epochs = new Set(paper.epochs.filter((e) => e.boundary === 'input').map((e) => e.epoch));
      const b = before(paper, epochs);
      return b > 0 ? Math.abs(before(cached, epochs) / b - 1) : 0;
    }),
  );
}

function ceilingLine(r: Result): string | undefined {
  const x = ceiling(r);
  const once = onePass(r);
  if (x === undefined || once === undefined) return undefined;
  const which = rounds(r).length > 1 ? ' (median over the rounds)' : '';
  const inRound = rounds(r).length > 1 ? ' in a round' : '';
  return [
    `\nCeiling${which}: ${times(x)}, the speedup of (b) with every frozen-prefix pass on training batches and every validation after the first freeze taken away (measured in (b), per epoch). (c) trains the same unfrozen blocks as (b), so no cache can make it faster than this; it comes near only when its entries are read again before the boundary moves on.`,
    `One-pass bound${which}: ${times(once)}, the ceiling with the frozen prefix run once more over every training sample ((b)'s upstream time in its last epoch). A cache runs each frozen block at least once per sample after its freeze${r.augment && (r.views ?? 0) > 1 ? `, and up to once per view with ${r.views} views` : ''}, so not even one whose reads and writes cost nothing passes this bound on the machine (b) ran on.`,
    `Both bounds hold for (c) as far as its run went at (b)'s speed: before the first freeze the two do the same work, and took ${(100 * drift(r)).toFixed(0)}% apart at most${inRound} here.`,
  ].join(' ');
}

export const freezeoutScratch: Section = {
  name: 'freezeout-scratch',
  summary: 'FreezeOut from the input on a from-scratch residual network, with and without the cache, against training every layer',
  render(json) {
    const r = json as Result;
    const list = checks(r);
    const note = loadedNote(r);
    const a = r.results.none;
    return [
      ...setup(command(r), r.date, r.machine, [
        `backend: ${a.backend}${a.threads ? `, ${a.threads} XNNPACK threads` : ''}${a.gemm ? `, training matrix products on OpenBLAS (${a.gemm})` : ''}; load average ${r.load.map((l) => l.toFixed(1)).join(' at the start, ')} at the end`,
        `job: resnet-small 28x28 from its seeded initialisation, ${r.samples} Fashion-MNIST training and ${r.val} validation samples, ${r.epochs} epochs, batch ${r.batch}, SGD lr ${r.lr} Nesterov momentum 0.9, weight decay 5e-4, seed 42; FreezeOut with learning-rate scaling, (a) at the constant base rate`,
        augmentLine(r),
        'each variant in its own process; wall time is training plus validation after every epoch; samples through a block count every call of its first layer (training, cache fills, validation)',
        ...optional(
          foreignLine(
            r.foreignCpu,
            `per variant in the order run: (a), (b), (c)${rounds(r).length > 1 ? ` in each of ${rounds(r).length} rounds` : ''}, then the sweep`,
          ),
        ),
      ]),
      '',
      mainTable(r),
      ...optional(hitsLine(r.results.cached)),
      ...optional(roundsLine(r)),
      '',
      `The cached variant over t0 and the schedules (the expected speedup is the schedule preview of \`train --dry-run\`, counted in forward FLOPs${viewsCaveat(r)}):`,
      '',
      sweepTable(r),
      '',
      table(
        ['ratio', 'value', 'target', 'verdict'],
        list.map((x) => [x.label, x.value, x.target, note && x.label.includes('wall') ? 'not judged' : metOrNot(x.ok)]),
      ),
      ...optional(ceilingLine(r)),
      '',
      `Verdict: ${note ?? verdict(list.filter((x) => x.ok).length, list.length)}.`,
    ];
  },
  headline(json) {
    const r = json as Result;
    const first = checks(r)[0];
    const bound = ceiling(r);
    const once = onePass(r);
    const limits = bound === undefined || once === undefined ? '' : ` (ceiling ${times(bound)}, one-pass bound ${times(once)})`;
    return {
      figure: `wall time of no freezing over FreezeOut from the input with the cache: ${first?.value}${limits}`,
      target: '>= 1.5x',
      verdict: loadedNote(r) ? 'not judged (machine loaded)' : metOrNot(first?.ok ?? false),
    };
  },
};

/**
 * freezeout: no freezing, FreezeOut without the cache (the paper's method) and FreezeOut with the
 * cache, on the same job (test/bench/freezeout.ts). Wall-time ratios and relative validation
 * errors are recomputed here from each variant's wall seconds and final accuracy. The variants
 * run one after another, so the wall-time ratios are not judged when the load average exceeded
 * the vCPUs at any variant's start or at the end (older results carry no load: judged).
 */
import { foreignLine, foreignNote, metOrNot, optional, setup, signedPercent, table, times, verdict } from './markdown';
import type { ResultBase, Section } from './section';

interface Variant {
  backend: string;
  threads?: number;
  gemm?: string;
  wallSeconds: number;
  trainSeconds: number;
  epochs: { epoch: number; seconds: number }[];
  valAccuracy: number;
  prefixSamples: number;
}

interface Result extends ResultBase {
  samples: number;
  val: number;
  epochs: number;
  /** 1-minute load average before each variant and after the last */
  load?: number[];
  /** vCPUs other work kept busy while each variant ran (test/bench/support/foreign-cpu.ts) */
  foreignCpu?: (number | null)[];
  results: Record<'none' | 'freezeout' | 'cached', Variant>;
}

function loadedNote(r: Result): string | undefined {
  const foreign = foreignNote(r.foreignCpu);
  if (foreign !== null) return foreign && `wall-time ratios not judged: ${foreign}`;
  const peak = Math.max(0, ...(r.load ?? []));
  if (peak <= r.machine.cpus) return undefined;
  return `wall-time ratios not judged: the load average reached ${peak.toFixed(1)} on ${r.machine.cpus} vCPUs while the variants ran one after another`;
}

function checks(r: Result) {
  const { none: a, freezeout: b, cached: c } = r.results;
  const relErr = (v: Variant) => (1 - v.valAccuracy - (1 - a.valAccuracy)) / (1 - a.valAccuracy);
  const ab = a.wallSeconds / b.wallSeconds;
  const ac = a.wallSeconds / c.wallSeconds;
  return [
    { label: '(a) / (b) wall time', value: times(ab), target: '>= 1.15x', ok: ab >= 1.15, timed: true },
    { label: '(a) / (c) wall time', value: times(ac), target: '>= 2.5x', ok: ac >= 2.5, timed: true },
    { label: '(b) validation error vs (a), relative', value: signedPercent(relErr(b)), target: '<= +3%', ok: relErr(b) <= 0.03 },
    { label: '(c) validation error vs (a), relative', value: signedPercent(relErr(c)), target: '<= +3%', ok: relErr(c) <= 0.03 },
  ];
}

export const freezeout: Section = {
  name: 'freezeout',
  summary: 'progressive freezing (FreezeOut) with and without the cache against training the same blocks unfrozen',
  render(json) {
    const r = json as Result;
    const row = (label: string, v: Variant) => [
      label,
      v.wallSeconds,
      (r.samples * r.epochs) / v.trainSeconds,
      v.valAccuracy.toFixed(4),
      v.epochs.map((e) => e.seconds.toFixed(0)).join(' / '),
      String(v.prefixSamples),
    ];
    const list = checks(r);
    const loaded = loadedNote(r);
    const judged = list.filter((x) => !(loaded && x.timed));
    return [
      ...setup(`npx nx run bench:freezeout -- --samples ${r.samples} --val ${r.val} --epochs ${r.epochs}`, r.date, r.machine, [
        `backend: ${r.results.none.backend}${r.results.none.threads ? `, ${r.results.none.threads} XNNPACK threads (train's default: every core)` : ''}${r.results.none.gemm ? `, training matrix products on OpenBLAS (${r.results.none.gemm})` : ''}`,
        `job: mobilenet_v2 96x96, last 4 blocks (block_14, block_15, block_16, Conv_1) and head gap-128-10 trainable, adam 1e-3, batch 32, ${r.samples} Fashion-MNIST training and ${r.val} validation samples, ${r.epochs} epochs, seed 42`,
        'each variant in its own process; wall time is training plus validation after every epoch',
        ...(r.load ? [`load average before each variant and at the end: ${r.load.map((l) => l.toFixed(1)).join(' / ')}`] : []),
        ...optional(foreignLine(r.foreignCpu)),
      ]),
      '',
      table(
        ['variant', 'wall s', 'train samples/s', 'val accuracy', 's per epoch (training)', 'samples through the prefix'],
        [
          row('(a) no freezing, no cache', r.results.none),
          row('(b) FreezeOut cubic t0=0.8, no cache (the paper)', r.results.freezeout),
          row('(c) FreezeOut cubic t0=0.8, cache', r.results.cached),
        ],
      ),
      '',
      table(
        ['ratio', 'value', 'target', 'verdict'],
        list.map((x) => [x.label, x.value, x.target, loaded && x.timed ? 'not judged' : metOrNot(x.ok)]),
      ),
      '',
      `Verdict: ${verdict(judged.filter((x) => x.ok).length, judged.length)}${loaded ? `; ${loaded}` : ''}.`,
    ];
  },
  headline(json) {
    const r = json as Result;
    const list = checks(r);
    return {
      figure: `wall time of no freezing over FreezeOut with the cache: ${list[1]?.value}`,
      target: '>= 2.5x',
      verdict: loadedNote(r) ? 'not judged (machine loaded)' : metOrNot(list[1]?.ok ?? false),
    };
  },
};

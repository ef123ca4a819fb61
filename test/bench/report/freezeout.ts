/**
 * freezeout: no freezing, FreezeOut without the cache (the paper's method) and FreezeOut with the
 * cache, on the same job (test/bench/freezeout.ts). Wall-time ratios and relative validation
 * errors are recomputed here from each variant's wall seconds and final accuracy.
 */
import { metOrNot, setup, signedPercent, table, times, verdict } from './markdown';
import type { ResultBase, Section } from './section';

interface Variant {
  backend: string;
  threads?: number;
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
  results: Record<'none' | 'freezeout' | 'cached', Variant>;
}

function checks(r: Result) {
  const { none: a, freezeout: b, cached: c } = r.results;
  const relErr = (v: Variant) => (1 - v.valAccuracy - (1 - a.valAccuracy)) / (1 - a.valAccuracy);
  const ab = a.wallSeconds / b.wallSeconds;
  const ac = a.wallSeconds / c.wallSeconds;
  return [
    { label: '(a) / (b) wall time', value: times(ab), target: '>= 1.15x', ok: ab >= 1.15 },
    { label: '(a) / (c) wall time', value: times(ac), target: '>= 2.5x', ok: ac >= 2.5 },
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
    return [
      ...setup(`npx nx run bench:freezeout -- --samples ${r.samples} --val ${r.val} --epochs ${r.epochs}`, r.date, r.machine, [
        `backend: ${r.results.none.backend}${r.results.none.threads ? `, ${r.results.none.threads} XNNPACK threads (train's default: every core)` : ''}`,
        `job: mobilenet_v2 96x96, last 4 blocks (block_14, block_15, block_16, Conv_1) and head gap-128-10 trainable, adam 1e-3, batch 32, ${r.samples} Fashion-MNIST training and ${r.val} validation samples, ${r.epochs} epochs, seed 42`,
        'each variant in its own process; wall time is training plus validation after every epoch',
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
        list.map((x) => [x.label, x.value, x.target, x.ok ? 'met' : 'not met']),
      ),
      '',
      `Verdict: ${verdict(list.filter((x) => x.ok).length, list.length)}.`,
    ];
  },
  headline(json) {
    const r = json as Result;
    const list = checks(r);
    return {
      figure: `wall time of no freezing over FreezeOut with the cache: ${list[1]?.value}`,
      target: '>= 2.5x',
      verdict: metOrNot(list[1]?.ok ?? false),
    };
  },
};

/**
 * cache-speedup: Keras-style freezing, features precomputed in memory, and Permafrost with and
 * without its cache, on the same job (test/bench/cache-speedup.ts). The ratios are recomputed
 * here from the per-epoch seconds.
 */
import { median } from '../support/bench-util';
import { metOrNot, mib, setup, table, times, verdict } from './markdown';
import type { ResultBase, Section } from './section';

interface Variant {
  backend: string;
  epochSeconds: number[];
  setupSeconds: number;
  peakRssBytes: number;
}

interface Result extends ResultBase {
  samples: number;
  epochs: number;
  batch: number;
  results: Record<'keras' | 'features' | 'cached' | 'uncached', Variant>;
}

const perEpoch = (v: Variant) => median(v.epochSeconds);
// epoch 1 of the cached variant fills the cache; later epochs of (b) and (c) are the steady state
const later = (v: Variant) => median(v.epochSeconds.slice(1));

function checks(r: Result) {
  const { keras: a, features: b, cached: c } = r.results;
  const c1 = c.epochSeconds[0] ?? Number.NaN;
  return [
    { label: '(a) / (c) epochs 2+', value: perEpoch(a) / later(c), target: '>= 25x', ok: perEpoch(a) / later(c) >= 25, digits: 1 },
    { label: '(c) epochs 2+ / (b)', value: later(c) / later(b), target: '<= 1.25x', ok: later(c) / later(b) <= 1.25, digits: 2 },
    { label: '(c) epoch 1 / (a)', value: c1 / perEpoch(a), target: '<= 0.7x', ok: c1 / perEpoch(a) <= 0.7, digits: 2 },
  ];
}

export const cacheSpeedup: Section = {
  name: 'cache-speedup',
  summary: 'what the activation cache saves against Keras-style freezing and against features precomputed in memory',
  render(json) {
    const r = json as Result;
    const { keras: a, features: b, cached: c, uncached: d } = r.results;
    const c1 = c.epochSeconds[0] ?? Number.NaN;
    const n = r.samples;
    const list = checks(r);
    const passed = list.filter((x) => x.ok).length;
    return [
      ...setup(`npx nx run bench:cache-speedup -- --samples ${r.samples} --epochs ${r.epochs}`, r.date, r.machine, [
        `backend: ${c.backend}`,
        `job: mobilenet_v2 96x96 cut at out_relu, head gap-128-10, adam 1e-3, batch ${r.batch}, ${n} Fashion-MNIST samples, ${r.epochs} epochs, seed 42`,
        'each variant in its own process; epoch times are training only (no validation), medians over the epochs named',
      ]),
      '',
      table(
        ['variant', 's / epoch', 'samples/s', 'note', 'peak RSS MiB'],
        [
          ['(a) Keras-style freezing (model.fit, prefix trainable=false)', perEpoch(a), n / perEpoch(a), '', mib(a.peakRssBytes)],
          [
            '(b) features precomputed in memory, head trained',
            later(b),
            n / later(b),
            `extraction ${b.setupSeconds.toFixed(1)} s`,
            mib(b.peakRssBytes),
          ],
          ['(c) Permafrost, cache, epoch 1', c1, n / c1, 'prefix runs, activations written', mib(c.peakRssBytes)],
          ['(c) Permafrost, cache, epochs 2+', later(c), n / later(c), 'all hits', ''],
          ['(d) Permafrost, cache disabled', perEpoch(d), n / perEpoch(d), '', mib(d.peakRssBytes)],
        ],
      ),
      '',
      table(
        ['ratio', 'value', 'target', 'verdict'],
        [
          ...list.map((x) => [x.label, times(x.value, x.digits), x.target, x.ok ? 'met' : 'not met']),
          ['(d) / (a)', times(perEpoch(d) / perEpoch(a)), '', ''],
        ],
      ),
      '',
      `Verdict: ${verdict(passed, list.length)}.`,
    ];
  },
  headline(json) {
    const r = json as Result;
    const [first] = checks(r);
    return {
      figure: `cached epoch vs Keras-style freezing: ${times(first?.value ?? Number.NaN, 1)} faster`,
      target: '>= 25x',
      verdict: metOrNot(first?.ok ?? false),
    };
  },
};

/**
 * observe: what a worker's metrics endpoint (per-step updates and a scrape every second) adds to
 * a cached epoch (test/bench/observe.ts). The verdict is on the accounted share; the paired
 * wall-time ratio is shown beside it with its range.
 */
import { median } from '../support/bench-util';
import { metOrNot, setup, signedPercent, table, verdict } from './markdown';
import type { ResultBase, Section } from './section';

interface Result extends ResultBase {
  backend: string;
  samples: number;
  pairs: number;
  intervalMs: number;
  stepsPerEpoch: number;
  epochSeconds: { off: number[]; on: number[] };
  accounted: number[];
  pairRatios: number[];
  scrapes: number;
  scrapeMs: number;
  renderMs: number;
  scrapeCpuMs: number;
  stepUpdateMicros: number;
}

const share = (x: number) => `${(100 * x).toFixed(2)}%`;

export const observe: Section = {
  name: 'observe',
  summary: "a worker's metrics endpoint (updates every step, a scrape every second) against none, on cached epochs",
  render(json) {
    const r = json as Result;
    const accounted = median(r.accounted);
    const ratio = median(r.pairRatios);
    const ok = accounted < 0.01;
    return [
      ...setup(`npx nx run bench:observe -- --samples ${r.samples} --pairs ${r.pairs} --interval-ms ${r.intervalMs}`, r.date, r.machine, [
        `backend: ${r.backend}`,
        `job: mobilenet_v2 96x96 cut at out_relu, head gap-128-10, batch 32, ${r.samples} Fashion-MNIST samples (${r.stepsPerEpoch} steps per epoch), the cache filled in an uncounted first epoch`,
        `${r.pairs} pairs of cached epochs, one without metrics and one with the WorkerObserver updated every step and /metrics scraped every ${r.intervalMs} ms by another process, in alternating order`,
      ]),
      '',
      table(
        ['figure', 'value'],
        [
          ['training s per cached epoch, without metrics (median)', median(r.epochSeconds.off)],
          ['training s per cached epoch, with metrics (median)', median(r.epochSeconds.on)],
          ['one step’s metric update, µs', r.stepUpdateMicros],
          ['rendering one scrape, ms (wall)', r.renderMs],
          ['one scrape, CPU ms of the worker process', r.scrapeCpuMs],
          [`scrapes during the observed epochs (median round trip ${r.scrapeMs.toFixed(1)} ms)`, String(r.scrapes)],
          ['accounted: metrics time over training time, median of the observed epochs', share(accounted)],
          [
            `wall: with / without, median of the pairs (range ${Math.min(...r.pairRatios).toFixed(3)} to ${Math.max(...r.pairRatios).toFixed(3)})`,
            signedPercent(ratio - 1),
          ],
        ],
      ),
      '',
      table(['check', 'value', 'target', 'verdict'], [['accounted share of a cached epoch', share(accounted), '< 1%', metOrNot(ok)]]),
      '',
      `Verdict: ${verdict(ok ? 1 : 0, 1)}. The wall-time ratio is a cross-check: on a shared machine epochs swing by more than the effect.`,
    ];
  },
  headline(json) {
    const r = json as Result;
    const accounted = median(r.accounted);
    return {
      figure: `metrics endpoint's share of a cached epoch: ${share(accounted)}`,
      target: '< 1%',
      verdict: metOrNot(accounted < 0.01),
    };
  },
};

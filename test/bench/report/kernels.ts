/**
 * kernels: the wasm backend's conv gradient kernels (libs/engine/src/wasm-kernels) against the
 * cpu backend's own, per shape (test/bench/kernels.ts). The benchmark sets no target; the section
 * closes with the range of speedups and the largest disagreement between the two backends.
 */
import { setup, table } from './markdown';
import type { ResultBase, Section } from './section';

interface Timing {
  medianMs: number;
  runsMs: number[];
}

interface Result extends ResultBase {
  loadAverage: [number, number];
  reps: number;
  budgetMs: number;
  /** what ran the matrix products on wasm: OpenBLAS's file name, or XNNPACK */
  gemm?: string;
  rows: { kernel: string; what: string; wasm: Timing; xnnpack?: Timing; cpu: Timing; relativeError: number }[];
}

const speedups = (r: Result) => r.rows.map((x) => x.cpu.medianMs / x.wasm.medianMs);
const range = (xs: number[]) => `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}x`;

export const kernels: Section = {
  name: 'kernels',
  summary: "the wasm backend's conv gradient kernels against the cpu backend's",
  render(json) {
    const r = json as Result;
    const worst = Math.max(...r.rows.map((x) => x.relativeError));
    return [
      ...setup(`npx nx run bench:kernels -- --reps ${r.reps} --budget-ms ${r.budgetMs}`, r.date, r.machine, [
        `load average ${r.loadAverage[0].toFixed(1)} at the start, ${r.loadAverage[1].toFixed(1)} at the end`,
        "shapes of MobileNetV2 at 96x96 with batch 32 and of resnet-small at batch 64 (the rows at [64,28,28,16]), 'same' padding; one process, the same seeded data for both backends",
        `training-step matrix products on wasm (the kernels run outside a gradient tape here, so only the transposed ones take it): ${r.gemm ?? 'XNNPACK'}; the rows that use them are timed with XNNPACK too (libs/engine's switch off, which also turns off its fused kernels)`,
        `median ms of up to ${r.reps} calls after a warm-up on one sample (fewer once ${r.budgetMs / 1000} s are spent; runs per median in brackets); error: max |wasm - cpu| / max |cpu|`,
      ]),
      '',
      table(
        ['kernel', 'shape', 'wasm ms', 'wasm, XNNPACK products ms', 'cpu ms', 'speedup (cpu / wasm)', 'error'],
        r.rows.map((x) => [
          x.kernel,
          x.what,
          `${x.wasm.medianMs.toFixed(1)} (${x.wasm.runsMs.length})`,
          x.xnnpack ? `${x.xnnpack.medianMs.toFixed(1)} (${x.xnnpack.runsMs.length})` : '',
          `${x.cpu.medianMs.toFixed(0)} (${x.cpu.runsMs.length})`,
          `${(x.cpu.medianMs / x.wasm.medianMs).toFixed(0)}x`,
          x.relativeError.toExponential(1),
        ]),
      ),
      '',
      `Verdict: no target is set. The wasm kernels run ${range(speedups(r))} faster than the cpu backend's and agree with them to ${worst.toExponential(1)} of the result's scale.`,
    ];
  },
  headline(json) {
    const r = json as Result;
    return { figure: `wasm conv gradient kernels vs the cpu backend's: ${range(speedups(r))} faster`, target: 'none', verdict: 'n/a' };
  },
};

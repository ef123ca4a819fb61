/**
 * finetune: fine-tuning MobileNetV2 on the CPU, Permafrost (wasm, one process) against PyTorch from
 * Debian on the same architecture, data and batch (test/bench/finetune.ts); before that, the
 * per-kernel profile of a training step over the last 4 blocks and of a prefix forward with
 * libs/engine's fused kernels off and on. Four targets, judged from the epoch medians.
 */
import type { TorchResult } from '../finetune';
import type { EpochsResult, InferenceResult } from '../support/finetune-permafrost';
import type { ProfileResult, ProfileSide } from '../support/finetune-profile';
import { type Cell, foreignLine, foreignNote, metOrNot, optional, setup, table, times, verdict } from './markdown';
import type { ResultBase, Section } from './section';

interface Result extends ResultBase {
  samples: number;
  epochs: number;
  load: (number | null)[];
  /** vCPUs other work kept busy during the profile, the Permafrost variants and PyTorch's run */
  foreignCpu?: (number | null)[];
  profile: ProfileResult;
  head?: EpochsResult;
  last4?: EpochsResult;
  headOneThread?: EpochsResult;
  last4OneThread?: EpochsResult;
  inference?: InferenceResult;
  inferenceOneThread?: InferenceResult;
  torch?: TorchResult;
}

type Full = Required<Omit<Result, 'torch'>> & { torch?: TorchResult };

const list = (xs: readonly number[]) => xs.map((x) => x.toFixed(2)).join(' / ');

function profileRows(part: { before: ProfileSide; after: ProfileSide }): Cell[][] {
  const names = [...new Set([...part.before.kernels, ...part.after.kernels].map((k) => k.kernel))];
  const self = (side: ProfileSide, k: string) => side.kernels.find((x) => x.kernel === k)?.selfMs ?? 0;
  const rows = names
    .map((k) => ({ k, before: self(part.before, k), after: self(part.after, k) }))
    .filter((r) => Math.max(r.before, r.after) >= 1)
    .sort((a, b) => Math.max(b.before, b.after) - Math.max(a.before, a.after) || a.k.localeCompare(b.k));
  return [
    ...rows.map((r) => [r.k, r.before.toFixed(1), r.after.toFixed(1)]),
    ['(outside kernels)', part.before.outsideKernelsMs.toFixed(1), part.after.outsideKernelsMs.toFixed(1)],
    ['**total (median)**', part.before.ms.toFixed(1), part.after.ms.toFixed(1)],
  ];
}

/**
 * A run during which other work kept the machine busy (foreignNote; older results: a load average
 * above the vCPUs) is not judged: PyTorch's OpenMP threads
 * spin and stall far more than Permafrost's under oversubscription, so the ratios say more about
 * the load than about either side.
 */
function loadedNote(r: Result): string | undefined {
  const foreign = foreignNote(r.foreignCpu);
  if (foreign !== null) return foreign ? `not judged: ${foreign}` : undefined;
  const peak = Math.max(...r.load.map((l) => l ?? 0));
  if (peak <= r.machine.cpus) return undefined;
  return `not judged: the load average reached ${peak.toFixed(1)} on ${r.machine.cpus} vCPUs, and under such load PyTorch's threads lose far more than Permafrost's, so the ratios above are no evidence either way`;
}

function checks(r: Full) {
  const t = r.torch;
  if (!t) return [];
  const first = r.head.epochSeconds[0] as number;
  const a = t.frozenMedian / r.head.cachedMedianSeconds;
  const b = first / t.frozenMedian;
  const c = t.last4Median / r.last4.cachedMedianSeconds;
  const d = r.last4.cachedMedianSeconds / t.last4_memMedian;
  return [
    { label: 'head only, cached: PyTorch plain epoch / Permafrost', value: a, target: '>= 10x', ok: a >= 10 },
    { label: "first epoch: Permafrost / PyTorch's frozen-backbone epoch", value: b, target: '<= 1.5x', ok: b <= 1.5 },
    { label: 'last 4 blocks, cached: PyTorch plain epoch / Permafrost', value: c, target: '>= 1.5x', ok: c >= 1.5 },
    { label: "last 4 blocks, cached: Permafrost / PyTorch's in-memory epoch", value: d, target: '<= 2x', ok: d <= 2 },
  ];
}

function epochTable(r: Full): string {
  const t = r.torch;
  const cached = (x: EpochsResult): Cell[] => [x.cachedMedianSeconds, list(x.epochSeconds.slice(1))];
  const torch = (m: number | undefined, xs: number[] | undefined): Cell[] => (m === undefined || !xs ? ['', 'skipped'] : [m, list(xs)]);
  const first = r.head.epochSeconds[0] as number;
  return table(
    ['work', 'Permafrost s', 'Permafrost epochs 2+', 'PyTorch s', 'PyTorch epochs'],
    [
      ['head only, cached epoch', ...cached(r.head), ...torch(t?.frozenMedian, t?.frozen)],
      ['first epoch (backbone once, writes the cache)', first, list([first]), ...torch(t?.frozenMedian, t?.frozen)],
      ['last 4 blocks + head, cached epoch', ...cached(r.last4), ...torch(t?.last4Median, t?.last4)],
      ['the same, PyTorch with the prefix output in memory', ...cached(r.last4), ...torch(t?.last4_memMedian, t?.last4_mem)],
      ['first epoch, 1 thread', r.headOneThread.epochSeconds[0] as number, '', '', ''],
      ['head only, cached epoch, 1 thread', ...cached(r.headOneThread), '', ''],
      ['last 4 blocks + head, cached epoch, 1 thread', ...cached(r.last4OneThread), '', ''],
    ],
  );
}

function runSections(r: Full): string[] {
  const list = checks(r);
  const batches = Object.keys(r.inference.samplesPerSecond);
  const blas = r.torch?.blas?.length ? r.torch.blas.join(', ') : 'not recorded';
  return [
    '',
    epochTable(r),
    '',
    list.length
      ? table(
          ['ratio', 'value', 'target', ''],
          list.map((c) => [c.label, times(c.value), c.target, loadedNote(r) ? 'not judged' : metOrNot(c.ok)]),
        )
      : 'PyTorch: skipped (python3-torch and python3-torchvision are not installed).',
    '',
    "Backbone inference alone, samples/s by batch size (Permafrost: the backbone's forward on one batch in memory; PyTorch: its epoch over the data, preprocessing included), and the first epoch's prefix forward (input read, preprocessing and the backbone through the activation source, batch 32):",
    '',
    table(
      ['batch', `Permafrost, ${r.inference.threads} threads`, 'Permafrost, 1 thread', 'PyTorch'],
      [
        ...batches.map((b): Cell[] => [
          b,
          r.inference.samplesPerSecond[b] as number,
          r.inferenceOneThread.samplesPerSecond[b] as number,
          r.torch?.inferenceSamplesPerSecond[b] ?? '',
        ]),
        [
          "first epoch's prefix forward, 32",
          r.head.prefixSamplesPerSecond,
          r.headOneThread.prefixSamplesPerSecond,
          r.torch?.inferenceSamplesPerSecond['32'] ?? '',
        ],
      ],
    ),
    '',
    r.torch?.inferenceSamplesPerSecond['32']
      ? `The first epoch's prefix forward runs at ${times(r.head.prefixSamplesPerSecond / r.torch.inferenceSamplesPerSecond['32'])} PyTorch's inference at batch 32.`
      : '',
    '',
    `PyTorch's BLAS: ${blas}.`,
    '',
    list.length
      ? `Verdict: ${loadedNote(r) ?? verdict(list.filter((c) => c.ok).length, list.length)}.`
      : 'Verdict: not judged (no PyTorch run).',
  ];
}

export const finetune: Section = {
  name: 'finetune',
  summary: 'fine-tuning MobileNetV2 on the CPU against PyTorch, and the per-kernel profile of the fused wasm kernels',
  render(json) {
    const r = json as Result;
    const load = r.load.map((l) => (l ?? Number.NaN).toFixed(1));
    return [
      ...setup(`npx nx run bench:finetune -- --samples ${r.samples} --epochs ${r.epochs}`, r.date, r.machine, [
        `backend: ${r.profile.backend}${r.head ? `, ${r.head.threads} XNNPACK threads (train's default: every core) unless a row says 1 thread${r.head.gemm ? `, training matrix products on OpenBLAS (${r.head.gemm}) with as many threads (the profile's "before" and the fused-off rows run them on XNNPACK)` : ''}` : ''}; load average ${load.join(' at the start, ')} at the end`,
        `job: mobilenet_v2 96x96, head gap-128-10, adam 1e-3, batch 32, ${r.samples} Fashion-MNIST samples, ${r.epochs} epochs per variant, each variant in its own process; seconds per epoch (training only), medians over epochs 2+`,
        `PyTorch: ${r.torch ? `${r.torch.torch} from Debian, ${r.torch.threads} threads, the same architecture (torchvision's mobilenet_v2, untrained)` : 'not run'}`,
        ...optional(foreignLine(r.foreignCpu, 'during the profile, the Permafrost variants and the PyTorch run')),
      ]),
      '',
      'Per-kernel profile (each kernel its own time), ms per training step over the last 4 blocks (batch 32), fused kernels off (before) and on (after), alternating rounds in one process; kernels under 1 ms on both sides left out:',
      '',
      table(['kernel', 'before ms', 'after ms'], profileRows(r.profile.training)),
      '',
      'The same for a prefix forward of 32 images:',
      '',
      table(['kernel', 'before ms', 'after ms'], profileRows(r.profile.prefix)),
      ...(r.head ? runSections(r as Full) : ['', 'Only the profile was run (`--only profile`).']),
    ];
  },
  headline(json) {
    const r = json as Result;
    const list = r.head ? checks(r as Full) : [];
    const c = list[2];
    if (!c) return { figure: 'profile only', target: 'see section', verdict: 'n/a' };
    const met = list.filter((x) => x.ok).length;
    if (loadedNote(r))
      return {
        figure: `last 4 blocks, cached epoch vs PyTorch's plain epoch: ${times(c.value)}`,
        target: '>= 1.5x',
        verdict: 'not judged (machine loaded)',
      };
    return {
      figure: `last 4 blocks, cached epoch vs PyTorch's plain epoch: ${times(c.value)}`,
      target: '>= 1.5x',
      verdict: `${met} of ${list.length} targets met`,
    };
  },
};

/**
 * Benchmark: fine-tuning MobileNetV2 at 96x96 (head gap-128-10, batch 32, Fashion-MNIST) on the
 * CPU, Permafrost (wasm backend, one process) side by side with PyTorch from Debian
 * (python3-torch, 2 threads) running the same architecture, data and batch, in one run:
 *
 *   head only, cached epoch          Permafrost epochs 2+ (the head trains on cached features)
 *                                    against PyTorch's epoch with the backbone under no_grad
 *   first epoch                      Permafrost epoch 1 (the backbone runs once per sample and
 *                                    the cache is written) against the same PyTorch epoch
 *   last 4 blocks + head, cached     Permafrost epochs 2+ against PyTorch with the prefix under
 *                                    no_grad every epoch, and with the prefix's output in memory
 *
 * Before anything else it writes the per-kernel profile of a training step over the last 4
 * blocks and of a prefix forward, with libs/engine's fused wasm kernels off and on
 * (support/finetune-profile.ts, results/finetune-profile.json), and it also runs the last-4
 * epochs with the fused kernels off. Then it times the backbone's inference alone by batch size
 * on both sides. Each Permafrost variant runs in its own process; PyTorch's script is skipped,
 * with a message, where python3-torch is absent.
 *
 * Run: npx tsx test/bench/finetune.ts [--samples 1024] [--epochs 3] [--only profile]
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { arg, machine, runVariant, table, writeResults } from './bench-util';
import type { EpochsResult, InferenceResult } from './support/finetune-permafrost';
import type { ProfileResult, ProfileSide } from './support/finetune-profile';

const SAMPLES = Number(arg('samples', '1024'));
const EPOCHS = Number(arg('epochs', '3'));
const THREADS = 2;
const support = (file: string) => new URL(`./support/${file}`, import.meta.url).pathname;

interface TorchResult {
  torch: string;
  threads: number;
  frozen: number[];
  last4: number[];
  last4_mem: number[];
  frozenMedian: number;
  last4Median: number;
  last4_memMedian: number;
  inferenceSamplesPerSecond: Record<string, number>;
}

/** The first of python3 and Debian's /usr/bin/python3 that imports torch and torchvision. */
function findTorchPython(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import torch, torchvision'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return python;
  }
  return undefined;
}

function runTorch(python: string): TorchResult {
  const args = [support('finetune_torch.py'), '--samples', String(SAMPLES), '--epochs', String(EPOCHS), '--threads', String(THREADS)];
  const r = spawnSync(python, args, { encoding: 'utf8', timeout: 3_600_000, stdio: ['ignore', 'pipe', 'inherit'] });
  const last = r.stdout?.trim().split('\n').at(-1);
  if (r.status !== 0 || !last) throw new Error(`finetune_torch.py exited ${r.status}`);
  return JSON.parse(last) as TorchResult;
}

function profileMarkdown(p: ProfileResult): string {
  const rows = (part: { before: ProfileSide; after: ProfileSide }) => {
    const names = [...new Set([...part.before.kernels, ...part.after.kernels].map((k) => k.kernel))];
    const ms = (side: ProfileSide, k: string) => side.kernels.find((x) => x.kernel === k);
    const listed = names
      .map((k) => [
        k,
        ms(part.before, k)?.selfMs ?? 0,
        ms(part.after, k)?.selfMs ?? 0,
        ms(part.before, k)?.calls ?? 0,
        ms(part.after, k)?.calls ?? 0,
      ])
      .filter((r) => Math.max(r[1] as number, r[2] as number) >= 1)
      .sort((a, b) => Math.max(b[1] as number, b[2] as number) - Math.max(a[1] as number, a[2] as number));
    return table(
      ['kernel', 'before ms', 'after ms', 'calls before', 'calls after'],
      [
        ...listed.map((r) => [
          r[0] as string,
          (r[1] as number).toFixed(1),
          (r[2] as number).toFixed(1),
          (r[3] as number).toFixed(0),
          (r[4] as number).toFixed(0),
        ]),
        ['(outside kernels)', part.before.outsideKernelsMs.toFixed(1), part.after.outsideKernelsMs.toFixed(1), '', ''],
        ['**total (median)**', part.before.ms.toFixed(1), part.after.ms.toFixed(1), '', ''],
      ],
    );
  };
  return [
    `### finetune profile (${new Date().toISOString().slice(0, 10)}, ${p.backend} backend, ${machine().cpus} cores)`,
    '',
    'Per-kernel time (each kernel its own time, nested kernels apart), ms per training step over the last 4 blocks (batch 32) and per prefix forward (32 images), libs/engine fused kernels off (before) and on (after), alternating rounds in one process. Kernels under 1 ms on both sides are left out.',
    '',
    '#### training step, last 4 blocks + head',
    '',
    rows(p.training),
    '',
    '#### prefix forward, 32 images',
    '',
    rows(p.prefix),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const load = [loadavg()[0]];
  process.stderr.write('profile...\n');
  const profile = await runVariant<ProfileResult>(support('finetune-profile.ts'), 'profile');
  writeResults('finetune-profile', { date: new Date().toISOString(), machine: machine(), ...profile }, profileMarkdown(profile));
  if (arg('only', '') === 'profile') return;
  const extra = ['--samples', String(SAMPLES), '--epochs', String(EPOCHS)];
  const threaded = ['--threads', String(THREADS)];
  const batches = ['--inference-batches', '16,32,64,128'];
  const pf = support('finetune-permafrost.ts');
  process.stderr.write('permafrost...\n');
  const runs = {
    head: await runVariant<EpochsResult>(pf, 'head', extra),
    last4: await runVariant<EpochsResult>(pf, 'last4', extra),
    headThreads: await runVariant<EpochsResult>(pf, 'head', [...extra, ...threaded]),
    last4Threads: await runVariant<EpochsResult>(pf, 'last4', [...extra, ...threaded]),
    inference: await runVariant<InferenceResult>(pf, 'inference', batches),
    inferenceThreads: await runVariant<InferenceResult>(pf, 'inference', [...batches, ...threaded]),
  };
  const python = findTorchPython();
  let torch: TorchResult | undefined;
  if (python) {
    process.stderr.write(`pytorch (${python})...\n`);
    torch = runTorch(python);
  } else process.stderr.write('finetune: python3-torch and python3-torchvision are not installed; PyTorch rows skipped\n');
  load.push(loadavg()[0]);
  report({ ...runs, torch, load });
}

interface Runs {
  head: EpochsResult;
  last4: EpochsResult;
  headThreads: EpochsResult;
  last4Threads: EpochsResult;
  inference: InferenceResult;
  inferenceThreads: InferenceResult;
  torch: TorchResult | undefined;
  load: (number | undefined)[];
}

const epochs = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' / ');

function epochRows(r: Runs): (string | number)[][] {
  const { head, last4, headThreads, last4Threads, torch } = r;
  const t = (xs: number[] | undefined) => (xs ? epochs(xs) : 'skipped');
  const first = head.epochSeconds[0] as number;
  const cached = (x: EpochsResult) => [x.cachedMedianSeconds, epochs(x.epochSeconds.slice(1))];
  const n = headThreads.threads;
  return [
    ['head only, cached epoch', ...cached(head), torch?.frozenMedian ?? '', t(torch?.frozen)],
    ['first epoch (backbone once, writes the cache)', first, epochs([first]), torch?.frozenMedian ?? '', t(torch?.frozen)],
    ['last 4 blocks + head, cached epoch', ...cached(last4), torch?.last4Median ?? '', t(torch?.last4)],
    [
      'last 4 blocks + head, cached epoch (PyTorch: prefix output in memory)',
      ...cached(last4),
      torch?.last4_memMedian ?? '',
      t(torch?.last4_mem),
    ],
    [`head only, cached epoch, ${n} threads`, ...cached(headThreads), '', ''],
    [`first epoch, ${n} threads`, headThreads.epochSeconds[0] as number, '', '', ''],
    [`last 4 blocks + head, cached epoch, ${last4Threads.threads} threads`, ...cached(last4Threads), '', ''],
  ];
}

function targetRows(r: Runs): string[][] {
  const { head, last4, torch } = r;
  if (!torch) return [];
  const first = head.epochSeconds[0] as number;
  const rows: [string, number, string, boolean][] = [
    ['head only cached: PyTorch plain / Permafrost', torch.frozenMedian / head.cachedMedianSeconds, '>= 10x', false],
    ['first epoch: Permafrost / PyTorch frozen-backbone epoch', first / torch.frozenMedian, '<= 1.5x', true],
    ['last 4 cached: PyTorch plain / Permafrost', torch.last4Median / last4.cachedMedianSeconds, '>= 1.5x', false],
    ['last 4 cached: Permafrost / PyTorch in memory', last4.cachedMedianSeconds / torch.last4_memMedian, '<= 2x', true],
  ];
  return rows.map(([label, value, target, atMost]) => {
    const bound = Number(target.replace(/[^0-9.]/g, ''));
    const met = atMost ? value <= bound : value >= bound;
    return [label, `${value.toFixed(2)}x`, target, met ? 'met' : 'missed'];
  });
}

function report(r: Runs): void {
  const { head, inference, inferenceThreads, torch } = r;
  const targets = targetRows(r);
  const inferenceRows = Object.keys(inference.samplesPerSecond).map((b) => [
    b,
    inference.samplesPerSecond[b] as number,
    inferenceThreads.samplesPerSecond[b] as number,
    torch?.inferenceSamplesPerSecond[b] ?? '',
  ]);
  const md = [
    `### finetune (${new Date().toISOString().slice(0, 10)}, ${head.backend} backend, ${machine().cpus} cores${torch ? `, PyTorch ${torch.torch} with ${torch.threads} threads` : ''})`,
    '',
    `mobilenet_v2 96x96, head gap-128-10, adam 1e-3, batch 32, ${SAMPLES} Fashion-MNIST samples, ${EPOCHS} epochs per variant; seconds per epoch (training only), medians over epochs 2+ (PyTorch: over its epochs 2+), every epoch listed. Permafrost single-threaded unless the row says otherwise. Load average ${r.load.map((l) => l?.toFixed(1)).join(' at the start, ')} at the end.`,
    '',
    table(['work', 'Permafrost s', 'Permafrost epochs', 'PyTorch s', 'PyTorch epochs'], epochRows(r)),
    '',
    targets.length
      ? table(['ratio', 'value', 'target', ''], targets)
      : 'PyTorch: skipped (python3-torch / python3-torchvision not installed).',
    '',
    "Backbone inference alone (the first epoch's forward), samples/s by batch size:",
    '',
    table(['batch', 'Permafrost samples/s', `Permafrost, ${inferenceThreads.threads} threads`, 'PyTorch samples/s'], inferenceRows),
    '',
  ].join('\n');
  writeResults('finetune', { date: new Date().toISOString(), machine: machine(), samples: SAMPLES, epochs: EPOCHS, ...r }, md);
}

await main();

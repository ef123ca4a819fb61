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
 * Permafrost runs as `train` does by default (XNNPACK threads auto: every core), and again with one
 * thread. Before anything else it writes the per-kernel profile of a training step over the last 4
 * blocks and of a prefix forward, with libs/engine's fused wasm kernels off and on
 * (support/finetune-profile.ts). Then it times the backbone's inference alone by batch size
 * on both sides. Each Permafrost variant runs in its own process; PyTorch's script is skipped,
 * with a message, where python3-torch is absent.
 *
 * Everything goes into results/finetune.json; `npm run bench:report` renders it.
 *
 * Run: npx nx run bench:finetune -- [--samples 1024] [--epochs 3] [--only profile]
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { arg, machine, runVariant, writeResults } from './support/bench-util';
import type { EpochsResult, InferenceResult } from './support/finetune-permafrost';
import type { ProfileResult } from './support/finetune-profile';
import { cpuMark, foreignCpus } from './support/foreign-cpu';

const SAMPLES = Number(arg('samples', '1024'));
const EPOCHS = Number(arg('epochs', '3'));
/** PyTorch's threads; Permafrost runs with train's default (auto: every core) and with one thread */
const THREADS = 2;
const support = (file: string) => new URL(`./support/${file}`, import.meta.url).pathname;

export interface TorchResult {
  torch: string;
  threads: number;
  frozen: number[];
  last4: number[];
  last4_mem: number[];
  frozenMedian: number;
  last4Median: number;
  last4_memMedian: number;
  inferenceSamplesPerSecond: Record<string, number>;
  /** the BLAS libraries the PyTorch process mapped (OpenBLAS, or the slow reference BLAS) */
  blas?: string[];
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

async function main(): Promise<void> {
  const load = [loadavg()[0]];
  // vCPUs other work kept busy during the profile, the Permafrost variants and the PyTorch run
  const marks = [cpuMark()];
  const foreign = () => marks.slice(1).map((m, i) => foreignCpus(marks[i], m));
  process.stderr.write('profile...\n');
  const profile = await runVariant<ProfileResult>(support('finetune-profile.ts'), 'profile');
  marks.push(cpuMark());
  const base = { date: new Date().toISOString(), machine: machine(), samples: SAMPLES, epochs: EPOCHS, profile };
  if (arg('only', '') === 'profile') {
    writeResults('finetune', { ...base, load: [load[0], loadavg()[0]], foreignCpu: foreign() });
    return;
  }
  const extra = ['--samples', String(SAMPLES), '--epochs', String(EPOCHS)];
  const oneThread = ['--threads', '1'];
  const batches = ['--inference-batches', '16,32,64,128'];
  const pf = support('finetune-permafrost.ts');
  process.stderr.write('permafrost...\n');
  const runs = {
    head: await runVariant<EpochsResult>(pf, 'head', extra),
    last4: await runVariant<EpochsResult>(pf, 'last4', extra),
    headOneThread: await runVariant<EpochsResult>(pf, 'head', [...extra, ...oneThread]),
    last4OneThread: await runVariant<EpochsResult>(pf, 'last4', [...extra, ...oneThread]),
    inference: await runVariant<InferenceResult>(pf, 'inference', batches),
    inferenceOneThread: await runVariant<InferenceResult>(pf, 'inference', [...batches, ...oneThread]),
  };
  marks.push(cpuMark());
  const python = findTorchPython();
  let torch: TorchResult | undefined;
  if (python) {
    process.stderr.write(`pytorch (${python})...\n`);
    torch = runTorch(python);
  } else process.stderr.write('finetune: python3-torch and python3-torchvision are not installed; PyTorch rows skipped\n');
  load.push(loadavg()[0]);
  marks.push(cpuMark());
  writeResults('finetune', { ...base, ...runs, torch, load, foreignCpu: foreign() });
}

await main();

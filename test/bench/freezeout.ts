/**
 * Benchmark: progressive freezing, with and without the cache. One run, side by side, same backend,
 * model, data, epochs and seed; each variant in its own process.
 *
 *   (a) none       the last 4 blocks and the head train all run (the prefix before them frozen,
 *                  run forward every step: no cache)
 *   (b) freezeout  FreezeOut cubic, t0 = 0.8, learning-rate scaling, no cache: frozen blocks leave
 *                  the backward pass but still run forward (the paper's method)
 *   (c) cached     the same schedule with the LMDB cache: the prefix runs once per sample, and
 *                  each freeze advances the cached activations through the newly frozen block once
 *
 * Wall time counts training and validation (every epoch) from the first step to the last
 * validation; model loading is left out. Setup: mobilenet_v2 at 96x96, head gap-128-10, adam
 * 1e-3, batch 32, Fashion-MNIST, XNNPACK threads as `train` has them by default (every core). Run: npx nx run bench:freezeout -- [--samples 2048]
 * [--val 1024] [--epochs 5]
 */
import { loadavg } from 'node:os';
import { openDataset, splitTrainVal } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import type { FreezePolicy } from '@permafrost/freeze';
import { assemble } from '@permafrost/model';
import { adam } from '@permafrost/trainer/testing';
import { arg, machine, runVariant, writeResults } from './support/bench-util';
import { cpuMark, foreignCpus } from './support/foreign-cpu';
import { type TimedFit, timedFit } from './support/timed-fit';

const SAMPLES = Number(arg('samples', '2048'));
const VAL = Number(arg('val', '1024'));
const EPOCHS = Number(arg('epochs', '5'));
const BATCH = 32;
const SEED = 42;
const SIZE = 96;
const K = 4;

interface VariantResult extends TimedFit {
  variant: string;
  backend: string;
  /** XNNPACK threads (train's default, auto: every core) */
  threads?: number;
  /** the library that ran the matrix products besides XNNPACK (OpenBLAS), if any */
  gemm?: string;
}

const POLICIES: Record<string, FreezePolicy> = {
  none: { policy: 'last-k' },
  freezeout: { policy: 'freezeout', schedule: 'cubic', t0: 0.8, scaleLr: true },
  cached: { policy: 'freezeout', schedule: 'cubic', t0: 0.8, scaleLr: true },
};

async function variant(name: string): Promise<VariantResult> {
  const policy = POLICIES[name];
  if (!policy) throw new Error(`unknown variant ${name}`);
  const engine = await initEngine('auto', { threads: 'auto' });
  const dataset = await openDataset('fashion-mnist');
  try {
    const { train, val } = splitTrainVal(dataset, { seed: SEED, trainSamples: SAMPLES, valSamples: VAL });
    const model = await assemble({ name: 'mobilenet_v2', inputSize: SIZE, head: 'gap-128' }, { k: K }, dataset.numClasses, SEED);
    const job = { model, dataset, trainIds: train, valIds: val, epochs: EPOCHS, batchSize: BATCH, seed: SEED, optimizer: adam(0.001) };
    const r = await timedFit(name, { ...job, freeze: policy }, name === 'cached');
    return { ...r, variant: name, backend: engine.backend, threads: engine.threads, gemm: engine.gemmLibrary };
  } finally {
    await dataset.close();
  }
}

async function main(): Promise<void> {
  const only = arg('variant', '');
  if (only) {
    process.stdout.write(`${JSON.stringify(await variant(only))}\n`);
    process.exit(0);
  }
  const script = new URL(import.meta.url).pathname;
  const extra = ['--samples', String(SAMPLES), '--val', String(VAL), '--epochs', String(EPOCHS)];
  const results: Record<string, VariantResult> = {};
  // the 1-minute load average before each variant and after the last: the variants run one after
  // another, so a wall-time ratio means something only if the machine was quiet throughout
  const load: number[] = [];
  // and, per variant, the vCPUs other work kept busy while it ran (foreign-cpu.ts)
  const foreignCpu: (number | undefined)[] = [];
  for (const v of Object.keys(POLICIES)) {
    process.stderr.write(`running ${v}...\n`);
    load.push(loadavg()[0] ?? 0);
    const mark = cpuMark();
    results[v] = await runVariant<VariantResult>(script, v, extra);
    foreignCpu.push(foreignCpus(mark, cpuMark()));
  }
  load.push(loadavg()[0] ?? 0);
  const a = results.none as VariantResult;
  const b = results.freezeout as VariantResult;
  const c = results.cached as VariantResult;
  const err = (r: VariantResult) => 1 - r.valAccuracy;
  const relErr = (r: VariantResult) => (err(r) - err(a)) / err(a);
  const ratios = {
    noneOverFreezeout: a.wallSeconds / b.wallSeconds,
    noneOverCached: a.wallSeconds / c.wallSeconds,
    freezeoutRelativeValError: relErr(b),
    cachedRelativeValError: relErr(c),
  };
  writeResults('freezeout', {
    date: new Date().toISOString(),
    machine: machine(),
    samples: SAMPLES,
    val: VAL,
    epochs: EPOCHS,
    load,
    foreignCpu,
    results,
    ratios,
  });
}

await main();

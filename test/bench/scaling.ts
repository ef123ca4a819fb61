/**
 * Benchmark: throughput of 2 local workers against 1, on this machine, same job (mobilenet_v2
 * 96x96 cut at out_relu, head gap-128-10, Fashion-MNIST). Every job is `permafrost coordinator
 * start --local-workers N` as a real process tree.
 *
 *   epoch 1  per worker count, one job of one epoch on fresh caches: the frozen prefix runs
 *            (compute-bound, split between the workers) and fills the caches. A worker's cache
 *            does not depend on the batch size, so every later job of that worker count reuses it.
 *   cached   then --rounds rounds of one job per (worker count, global batch) configuration,
 *            alternating, each --epochs epochs (every sample a hit: per-step overhead and the
 *            gradient allreduce matter); the median over their epochs but each job's first (which
 *            warms up the JIT and the kernels). Two workers step in lockstep, so another process
 *            taking a core for a moment stalls both: alternating short jobs spreads such moments
 *            over every configuration instead of one.
 *   pairs    --batches B: 1 worker and 2 workers at global batch B (strong scaling, the
 *            equivalence setting); --local-batches b: 1 worker at b and 2 workers at 2b, each
 *            worker keeping batch b (weak scaling, how Horovod and DDP report it).
 *
 * Then support/step-cost.ts times a cached step's compute alone at the full and the half local batch: the
 * ratio of the two is the most a second worker can gain, whatever the network costs. Last, per
 * --local-batches b, the step at batch b in one process, in two that share nothing, and in two
 * that reduce each step's gradient in lockstep through the workers' pair allreduce: the first
 * pair says what this machine gives a second process, the second what synchronous data
 * parallelism keeps of that here with no cache, coordinator or data path involved. After every
 * round of jobs, support/core-speed.ts times the same pure arithmetic on each vCPU (pinned with taskset):
 * how far apart the vCPUs run at the same moment, which no code of a synchronous job can change,
 * beside that round's ratio.
 *
 * Run: npx nx run bench:scaling -- [--samples 2048] [--batches 32,256] [--local-batches 32] [--rounds 3] [--epochs 3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, machine, median, runVariant, writeResults } from './support/bench-util';
import { type CoreSpeed, canPin, probeCoreSpeed } from './support/core-speed';

const CLI = resolve(import.meta.dirname, '../../bin/permafrost.mjs');
const SAMPLES = Number(arg('samples', '2048'));
const BATCHES = arg('batches', '32,256').split(',').map(Number);
const LOCAL_BATCHES = arg('local-batches', '32').split(',').filter(Boolean).map(Number);
const ROUNDS = Number(arg('rounds', '3'));
const EPOCHS = Math.max(2, Number(arg('epochs', '3')));

export interface Run {
  workers: number;
  batch: number;
  /** the round of cached jobs it ran in, from 1; 0 for the first job of a worker count, on fresh caches */
  round: number;
  /** training samples/s (the report's samplesPerSec) */
  epochSamplesPerSec: number[];
  /** samples over the coordinator's wall clock for the epoch */
  epochWallSamplesPerSec: number[];
  epochSeconds: number[];
}

/** One job of `epochs` epochs with its activation caches under `cacheDir`. */
function run(workers: number, batch: number, epochs: number, cacheDir: string, round: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'permafrost-scaling-'));
  const report = join(dir, 'report.json');
  const args = [CLI, 'coordinator', 'start', '--local-workers', String(workers), '--model', 'mobilenet_v2', '--input-size', '96']
    .concat([
      '--head',
      'gap-128',
      '--dataset',
      'fashion-mnist',
      '--train-samples',
      String(SAMPLES),
      '--val-samples',
      '64',
      '--epochs',
      String(epochs),
    ])
    .concat(['--batch-size', String(batch), '--cache-dir', cacheDir, '--checkpoint-dir', join(dir, 'ckpt'), '--report', report]);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PERMAFROST_LOG: 'warn' },
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_600_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      try {
        if (code !== 0) throw new Error(`coordinator exited ${code}`);
        const r = JSON.parse(readFileSync(report, 'utf8')) as {
          epochs: { samplesPerSec: number; seconds: number; wallSeconds: number }[];
        };
        done({
          workers,
          batch,
          round,
          epochSamplesPerSec: r.epochs.map((e) => e.samplesPerSec),
          epochWallSamplesPerSec: r.epochs.map((e) => (e.samplesPerSec * e.seconds) / e.wallSeconds),
          epochSeconds: r.epochs.map((e) => e.seconds),
        });
      } catch (e) {
        fail(e);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** One comparison: the batch 1 worker and 2 workers train at, and what the pair means. */
interface Pairing {
  label: string;
  one: number;
  two: number;
}
const PAIRINGS: Pairing[] = [
  ...BATCHES.map((b) => ({ label: `same global batch ${b}`, one: b, two: b })),
  ...LOCAL_BATCHES.map((b) => ({ label: `same batch ${b} per worker`, one: b, two: 2 * b })),
];
const configs = [...new Set(PAIRINGS.flatMap((p) => [`1/${p.one}`, `2/${p.two}`]))].map(
  (c) => c.split('/').map(Number) as [number, number],
);

const runs: Run[] = [];
// After every round of jobs, the vCPUs alone (core-speed.ts), so each round's ratio has beside it
// how far apart the vCPUs ran in the same minutes; windows of one cached step at batch 32.
const CORE_SECONDS = 4;
const CORE_WINDOW_MS = 20;
const pin = canPin();
const coreRounds: CoreSpeed[] = [];
const caches = mkdtempSync(join(tmpdir(), 'permafrost-scaling-caches-'));
// a worker's cache holds its shards' activations whatever the batch size: one fill per worker count
const cacheOf = (workers: number) => join(caches, `w${workers}`);
const fillBatch = BATCHES[0] ?? 32;
try {
  for (const workers of [1, 2]) {
    process.stderr.write(`${workers} worker(s), batch ${fillBatch}: epoch 1, filling the caches...\n`);
    runs.push(await run(workers, fillBatch, 1, cacheOf(workers), 0));
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [workers, batch] of configs) {
      process.stderr.write(`${workers} worker(s), global batch ${batch}: cached, round ${round} of ${ROUNDS}...\n`);
      runs.push(await run(workers, batch, EPOCHS, cacheOf(workers), round));
    }
    if (pin) {
      process.stderr.write(`the vCPUs themselves, round ${round} of ${ROUNDS}...\n`);
      coreRounds.push(await probeCoreSpeed(CORE_SECONDS, CORE_WINDOW_MS));
    }
  }
} finally {
  rmSync(caches, { recursive: true, force: true });
}
/** the cached jobs of a configuration, of one round when given */
const cachedOf = (workers: number, batch: number, round?: number) =>
  runs.filter((r) => r.batch === batch && r.workers === workers && r.round > 0 && (round === undefined || r.round === round));
// each job's first epoch warms up the JIT and the kernels: left out
const cached = (workers: number, batch: number, round?: number) =>
  median(cachedOf(workers, batch, round).flatMap((r) => r.epochSamplesPerSec.slice(1)));
const cachedWall = (workers: number, batch: number) => median(cachedOf(workers, batch).flatMap((r) => r.epochWallSamplesPerSec.slice(1)));
const first = (workers: number) => runs.find((r) => r.workers === workers && r.round === 0)?.epochSamplesPerSec[0] ?? Number.NaN;
const ratios: Record<string, { cached: number; cachedWall: number }> = {};
for (const p of PAIRINGS) {
  ratios[p.label] = { cached: cached(2, p.two) / cached(1, p.one), cachedWall: cachedWall(2, p.two) / cachedWall(1, p.one) };
}
const epoch1 = { one: first(1), two: first(2), ratio: first(2) / first(1) };
process.stderr.write('timing a step of the head alone...\n');
const stepBatches = [...new Set(BATCHES.flatMap((b) => [Math.ceil(b / 2), b]))].sort((a, b) => a - b);
const { msPerStep } = await runVariant<{ msPerStep: Record<number, number> }>(
  resolve(import.meta.dirname, 'support/step-cost.ts'),
  'steps',
  ['--batches', stepBatches.join(',')],
);
// What this machine gives a second process doing a worker's compute: the step alone, two copies
// at once (as two local workers run: --single-threaded-gc) sharing nothing, and two copies in
// lockstep through the workers' own pair allreduce, without the data path or the coordinator.
// Twice the lone step time over the shared one is the most a second worker can add at the same
// batch per worker, first whatever the allreduce costs, then for synchronous training as such.
const CEILING_SECONDS = 8;
const LOCKSTEP_STEPS = 500;

interface StepTimes {
  median: number;
  mean: number;
}

/**
 * ms per step at batch b of `copies` step-cost processes started together: for the same seconds,
 * or, in lockstep (a pair), for the same steps
 */
async function stepTimes(b: number, copies: number, nodeArgs: string[], lockstep = false): Promise<StepTimes[]> {
  const dir = lockstep ? mkdtempSync(join(tmpdir(), 'permafrost-lockstep-')) : '';
  const common = ['--batches', String(b), '--start-at', String(Date.now() + 20_000)];
  const script = resolve(import.meta.dirname, 'support/step-cost.ts');
  try {
    const runs = await Promise.all(
      Array.from({ length: copies }, (_, r) =>
        runVariant<{ msPerStep: Record<number, number>; meanMsPerStep: Record<number, number> }>(
          script,
          lockstep ? 'lockstep' : 'alone',
          lockstep
            ? [...common, '--steps', String(LOCKSTEP_STEPS), '--lockstep', dir, '--rank', String(r)]
            : [...common, '--seconds', String(CEILING_SECONDS)],
          600_000,
          nodeArgs,
        ),
      ),
    );
    return runs.map((x) => ({ median: x.msPerStep[b] ?? Number.NaN, mean: x.meanMsPerStep[b] ?? Number.NaN }));
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
type CeilingKind = 'alone' | 'together' | 'lockstep';
const ceilings: Record<number, Record<CeilingKind, StepTimes[]> & { ratio: { together: number; lockstep: number; lockstepMean: number } }> =
  {};
for (const b of LOCAL_BATCHES) {
  const t: Record<CeilingKind, StepTimes[]> = { alone: [], together: [], lockstep: [] };
  for (let round = 0; round < 3; round++) {
    process.stderr.write(`two trainers at once, batch ${b}: round ${round + 1} of 3...\n`);
    t.alone.push(...(await stepTimes(b, 1, [])));
    t.together.push(...(await stepTimes(b, 2, ['--single-threaded-gc'])));
    t.lockstep.push(...(await stepTimes(b, 2, ['--single-threaded-gc'], true)));
  }
  const of = (k: CeilingKind, m: keyof StepTimes) => median(t[k].map((x) => x[m]));
  const ratio = {
    together: (2 * of('alone', 'median')) / of('together', 'median'),
    lockstep: (2 * of('alone', 'median')) / of('lockstep', 'median'),
    lockstepMean: (2 * of('alone', 'mean')) / of('lockstep', 'mean'),
  };
  ceilings[b] = { ...t, ratio };
}

// what two trainers that share nothing get (ceilings), times what lockstep keeps of two vCPUs
const together = median(Object.values(ceilings).map((c) => c.ratio.together));
const keeps = median(coreRounds.map((c) => c.lockstepKeeps));
const syncBound = together * keeps;
writeResults('scaling', {
  date: new Date().toISOString(),
  machine: machine(),
  samples: SAMPLES,
  runs,
  ratios,
  epoch1,
  msPerStep,
  ceilings,
  coreRounds,
  syncBound,
});

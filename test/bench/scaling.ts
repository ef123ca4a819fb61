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
 * Then step-cost.ts times a cached step's compute alone at the full and the half local batch: the
 * ratio of the two is the most a second worker can gain, whatever the network costs. Last, per
 * --local-batches b, the step at batch b in one process, in two that share nothing, and in two
 * that reduce each step's gradient in lockstep through the workers' pair allreduce: the first
 * pair says what this machine gives a second process, the second what synchronous data
 * parallelism keeps of that here with no cache, coordinator or data path involved. After every
 * round of jobs, core-speed.ts times the same pure arithmetic on each vCPU (pinned with taskset):
 * how far apart the vCPUs run at the same moment, which no code of a synchronous job can change,
 * beside that round's ratio.
 *
 * Run: npx tsx test/bench/scaling.ts [--samples 2048] [--batches 32,256] [--local-batches 32] [--rounds 3] [--epochs 3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, machine, median, runVariant, table, writeResults } from './bench-util';
import { type CoreSpeed, canPin, probeCoreSpeed } from './core-speed';

const CLI = resolve(import.meta.dirname, '../../bin/permafrost.mjs');
const SAMPLES = Number(arg('samples', '2048'));
const BATCHES = arg('batches', '32,256').split(',').map(Number);
const LOCAL_BATCHES = arg('local-batches', '32').split(',').filter(Boolean).map(Number);
const ROUNDS = Number(arg('rounds', '3'));
const EPOCHS = Math.max(2, Number(arg('epochs', '3')));
const TARGET = 1.6;

interface Run {
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
const rows = PAIRINGS.map((p) => {
  const r = { cached: cached(2, p.two) / cached(1, p.one), cachedWall: cachedWall(2, p.two) / cachedWall(1, p.one) };
  ratios[p.label] = r;
  return [
    p.label,
    `${p.one} / ${p.two}`,
    cached(1, p.one),
    cached(2, p.two),
    `${r.cached.toFixed(2)}x`,
    cachedWall(1, p.one),
    cachedWall(2, p.two),
    `${r.cachedWall.toFixed(2)}x`,
  ];
});
const epoch1 = { one: first(1), two: first(2), ratio: first(2) / first(1) };
process.stderr.write('timing a step of the head alone...\n');
const stepBatches = [...new Set(BATCHES.flatMap((b) => [Math.ceil(b / 2), b]))].sort((a, b) => a - b);
const { msPerStep } = await runVariant<{ msPerStep: Record<number, number> }>(resolve(import.meta.dirname, 'step-cost.ts'), 'steps', [
  '--batches',
  stepBatches.join(','),
]);
const stepRows = BATCHES.map((b) => {
  const [full, half] = [msPerStep[b] ?? Number.NaN, msPerStep[Math.ceil(b / 2)] ?? Number.NaN];
  return [String(b), full, half, `${(full / half).toFixed(2)}x`];
});
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
  const script = resolve(import.meta.dirname, 'step-cost.ts');
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
const ceilingRows: string[][] = [];
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
  ceilingRows.push([
    String(b),
    `${of('alone', 'median').toFixed(2)} / ${of('alone', 'mean').toFixed(2)}`,
    `${of('together', 'median').toFixed(2)} / ${of('together', 'mean').toFixed(2)}`,
    `${ratio.together.toFixed(2)}x`,
    `${of('lockstep', 'median').toFixed(2)} / ${of('lockstep', 'mean').toFixed(2)}`,
    `${ratio.lockstep.toFixed(2)}x / ${ratio.lockstepMean.toFixed(2)}x`,
  ]);
}

// each round's ratio at the same batch per worker, beside what the vCPUs gave in the same minutes
const perWorker = PAIRINGS.find((p) => p.two === 2 * p.one) ?? PAIRINGS[0];
const roundRatio = (round: number) => (perWorker ? cached(2, perWorker.two, round) / cached(1, perWorker.one, round) : Number.NaN);
const coreRows = coreRounds.map((c, i) => [
  String(i + 1),
  `${roundRatio(i + 1).toFixed(2)}x`,
  `${Math.min(...c.alone.map((x) => x.p10)).toFixed(2)}-${Math.max(...c.alone.map((x) => x.p90)).toFixed(2)}`,
  `${c.skew.median.toFixed(2)}x / ${c.skew.p90.toFixed(2)}x`,
  `${(100 * c.lockstepKeeps).toFixed(0)}%`,
]);
// what two trainers that share nothing get (the table above), times what lockstep keeps of two vCPUs
const together = median(Object.values(ceilings).map((c) => c.ratio.together));
const keeps = median(coreRounds.map((c) => c.lockstepKeeps));
const syncBound = together * keeps;
const coreSection = pin
  ? [
      `The vCPUs themselves, after every round of jobs (core-speed.ts): one unit of pure integer arithmetic (about 0.8 ms on an idle core, no memory traffic, nothing else in the process), timed over and over for ${CORE_SECONDS} s on each vCPU alone and then on all of them at once, each probe pinned with taskset. On dedicated cores every unit takes the same time and lockstep keeps 100%. "slower over faster" compares the vCPUs while all are busy, in windows of ${CORE_WINDOW_MS} ms (a cached step at batch 32): the mean unit time of the slower vCPU over the faster one's in the same window. Two processes that wait for each other once per window do two units' work each time the slower vCPU does one; "lockstep keeps" is that over what the two vCPUs do independently in the same windows. Both compare the vCPUs at the same moment, so they hold whatever the host does from one minute to the next; the rates alone and together, measured seconds apart, are in the JSON (coreRounds).`,
      '',
      table(
        [
          'round',
          `jobs: ${perWorker?.label ?? ''}`,
          'unit ms, one vCPU alone (p10-p90)',
          'slower over faster vCPU (median / p90)',
          'lockstep keeps',
        ],
        coreRows,
      ),
      '',
      `Lockstep keeps ${(100 * keeps).toFixed(0)}% (median over the rounds) of two vCPUs here; times the ${together.toFixed(2)}x that two trainers sharing nothing got above, a synchronous pair of workers can reach at most ${syncBound.toFixed(2)}x one worker on this machine, before its own exchange, imbalance or cache reads.`,
      '',
    ]
  : ['The vCPUs themselves: not measured (taskset is not available to pin a probe to each vCPU).', ''];
const met = PAIRINGS.filter((p) => (ratios[p.label]?.cached ?? 0) >= TARGET).map((p) => p.label);
const md = [
  `### scaling (${new Date().toISOString().slice(0, 10)}, ${machine().cpus} cores, wasm backend)`,
  '',
  `coordinator + N local workers, mobilenet_v2 96x96 / out_relu / gap-128-10, ${SAMPLES} Fashion-MNIST samples, gradients over the job's default transport. Training samples/s of cached epochs (every sample a cache hit): the median over ${ROUNDS} jobs of ${EPOCHS} epochs per configuration, the configurations alternating, each job's first epoch (warm-up) left out. "training" is the report's samplesPerSec (the step loop, timed by the slowest rank); "wall" divides by the coordinator's clock for the whole epoch, which adds validation of 64 samples and the rank-0 checkpoint every epoch. Same global batch: the equivalence setting (2 workers reproduce 1 worker's updates). Same batch per worker: each worker keeps its batch and the global batch doubles, which is how Horovod and DDP report scaling. Target: cached epochs with 2 workers at least ${TARGET}x 1 worker.`,
  '',
  table(
    [
      'comparison',
      'global batch, 1 / 2 workers',
      'training, 1 worker',
      'training, 2 workers',
      'ratio',
      'wall, 1 worker',
      'wall, 2 workers',
      'ratio',
    ],
    rows,
  ),
  '',
  `Target (training samples/s): met for ${met.length ? met.join('; ') : 'none'} of ${PAIRINGS.map((p) => p.label).join('; ')}.`,
  '',
  `Epoch 1 on fresh caches (the frozen prefix runs for every sample, split between the workers), global batch ${fillBatch}: ${epoch1.one.toFixed(1)} samples/s with 1 worker, ${epoch1.two.toFixed(1)} with 2, ${epoch1.ratio.toFixed(2)}x.`,
  '',
  'A cached step of the head alone (one process, random activations, no network; median ms): at the same global batch a second worker halves the local batch, but every replica still runs a whole step on its half, so the step at the full batch over the step at half of it is the most 2 workers can gain there, before any communication.',
  '',
  table(['global batch', 'step at the full batch, ms', 'step at half the batch, ms', 'most 2 workers can gain'], stepRows),
  '',
  `Two trainers without the data path: the same step (random activations, no cache, no coordinator) in one process alone, in two processes at the same time that share nothing (each with --single-threaded-gc, as two local workers run; ${CEILING_SECONDS} s), and in two processes in lockstep that reduce every step's gradient through the workers' own pair allreduce (shared memory) and run ${LOCKSTEP_STEPS} steps each; 3 rounds, ms per step as median / mean (the mean is what throughput sees). Twice the lone step time over the paired one: "share nothing" is what this machine gives a second process doing a worker's compute; "lockstep" is what synchronous data parallelism keeps of it here, before any cache read.`,
  '',
  table(
    [
      'batch per process',
      'alone, ms per step',
      'two sharing nothing, ms per step',
      'two over one',
      'two in lockstep, ms per step',
      'two over one (median / mean)',
    ],
    ceilingRows,
  ),
  '',
  ...coreSection,
].join('\n');
writeResults(
  'scaling',
  {
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
  },
  md,
);

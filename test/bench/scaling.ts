/**
 * Benchmark: throughput of 2 local workers against 1, on this machine, same job (mobilenet_v2
 * 96x96 cut at out_relu, head gap-128-10, Fashion-MNIST). Every job is `permafrost coordinator
 * start --local-workers N` as a real process tree.
 *
 *   epoch 1  per global batch and worker count, one job of one epoch on fresh caches: the frozen
 *            prefix runs (compute-bound, split between the workers) and fills the caches.
 *   cached   then --rounds rounds of one job per worker count, alternating, each --epochs epochs
 *            on the caches the first job filled (every sample a hit: per-step overhead and the
 *            gradient allreduce matter); the median over their epochs but each job's first (which
 *            warms up the JIT and the kernels, cached or not). Two workers step in
 *            lockstep, so another process taking a core for a moment stalls both: alternating
 *            short jobs spreads such moments over both configurations instead of one.
 *
 * Then step-cost.ts times a cached step's compute alone at the full and the half local batch: the
 * ratio of the two is the most a second worker can gain, whatever the network costs.
 *
 * Run: npx tsx test/bench/scaling.ts [--samples 2048] [--batches 32,256] [--rounds 3] [--epochs 3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, machine, median, runVariant, table, writeResults } from './bench-util';

const CLI = resolve(import.meta.dirname, '../../bin/permafrost.mjs');
const SAMPLES = Number(arg('samples', '2048'));
const BATCHES = arg('batches', '32,256').split(',').map(Number);
const ROUNDS = Number(arg('rounds', '3'));
const EPOCHS = Math.max(2, Number(arg('epochs', '3')));
const TARGET = 1.6;

interface Run {
  workers: number;
  batch: number;
  /** the first job of a configuration, on fresh caches */
  fill: boolean;
  epochSamplesPerSec: number[];
  epochSeconds: number[];
}

/** One job of `epochs` epochs with its activation caches under `cacheDir`. */
function run(workers: number, batch: number, epochs: number, cacheDir: string, fill: boolean): Promise<Run> {
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
        const r = JSON.parse(readFileSync(report, 'utf8')) as { epochs: { samplesPerSec: number; seconds: number }[] };
        done({
          workers,
          batch,
          fill,
          epochSamplesPerSec: r.epochs.map((e) => e.samplesPerSec),
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

const runs: Run[] = [];
const caches = mkdtempSync(join(tmpdir(), 'permafrost-scaling-caches-'));
try {
  for (const batch of BATCHES) {
    const cacheOf = (workers: number) => join(caches, `b${batch}-w${workers}`);
    for (const workers of [1, 2]) {
      process.stderr.write(`batch ${batch}, ${workers} worker(s): epoch 1, filling the caches...\n`);
      runs.push(await run(workers, batch, 1, cacheOf(workers), true));
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const workers of [1, 2]) {
        process.stderr.write(`batch ${batch}, ${workers} worker(s): cached, round ${round} of ${ROUNDS}...\n`);
        runs.push(await run(workers, batch, EPOCHS, cacheOf(workers), false));
      }
    }
  }
} finally {
  rmSync(caches, { recursive: true, force: true });
}
const rows: (string | number)[][] = [];
const ratios: Record<string, { epoch1: number; cached: number }> = {};
for (const batch of BATCHES) {
  const of = (workers: number, fill: boolean) => runs.filter((r) => r.batch === batch && r.workers === workers && r.fill === fill);
  const first = (workers: number) => of(workers, true)[0]?.epochSamplesPerSec[0] ?? Number.NaN;
  const cached = (workers: number) => median(of(workers, false).flatMap((r) => r.epochSamplesPerSec.slice(1)));
  ratios[batch] = { epoch1: first(2) / first(1), cached: cached(2) / cached(1) };
  rows.push([
    String(batch),
    first(1),
    first(2),
    `${(first(2) / first(1)).toFixed(2)}x`,
    cached(1),
    cached(2),
    `${(cached(2) / cached(1)).toFixed(2)}x`,
  ]);
}
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
const met = BATCHES.filter((b) => (ratios[b]?.cached ?? 0) >= TARGET);
const md = [
  `### scaling (${new Date().toISOString().slice(0, 10)}, ${machine().cpus} cores, wasm backend)`,
  '',
  `coordinator + N local workers, mobilenet_v2 96x96 / out_relu / gap-128-10, ${SAMPLES} Fashion-MNIST samples; samples/s per epoch as the coordinator measures it (rank 0 writes a checkpoint every epoch). Epoch 1: one job on fresh caches, the prefix runs. Cached: the median over ${ROUNDS} jobs of ${EPOCHS} epochs per worker count on the filled caches, the jobs of 1 and 2 workers alternating, each job's first epoch (warm-up) left out. Target: cached epochs with 2 workers at least ${TARGET}x 1 worker.`,
  '',
  table(['global batch', 'epoch 1, 1 worker', 'epoch 1, 2 workers', 'ratio', 'cached, 1 worker', 'cached, 2 workers', 'ratio'], rows),
  '',
  `Target: cached epochs with 2 workers at least ${TARGET}x: met at global batch ${met.length ? met.join(', ') : 'none'} of ${BATCHES.join(', ')}.`,
  '',
  'A cached step of the head alone (one process, random activations, no network; median ms): a second worker halves the local batch, but every replica still runs a whole step on its half, so the step at the full batch over the step at half of it is the most 2 workers can gain, before any communication.',
  '',
  table(['global batch', 'step at the full batch, ms', 'step at half the batch, ms', 'most 2 workers can gain'], stepRows),
  '',
].join('\n');
writeResults('scaling', { date: new Date().toISOString(), machine: machine(), samples: SAMPLES, runs, ratios, msPerStep }, md);

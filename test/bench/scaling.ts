/**
 * Benchmark: throughput of 2 local workers against 1, on this machine, same job (mobilenet_v2
 * 96x96 cut at out_relu, head gap-128-10, Fashion-MNIST, 3 epochs): epoch 1 runs the frozen prefix
 * (compute-bound, split between workers), epochs 2+ read the cache (per-step overhead and the
 * gradient allreduce matter). Each configuration runs `permafrost coordinator start
 * --local-workers N` as a real process tree, with fresh caches. Then step-cost.ts times a cached
 * step's compute alone at the full and the half local batch: the ratio of the two is the most a
 * second worker can gain, whatever the network costs.
 *
 * Run: npx tsx test/bench/scaling.ts [--samples 2048] [--batches 32,256]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, machine, median, runVariant, table, writeResults } from './bench-util';

const CLI = resolve(import.meta.dirname, '../../bin/permafrost.mjs');
const SAMPLES = Number(arg('samples', '2048'));
const BATCHES = arg('batches', '32,256').split(',').map(Number);
const TARGET = 1.6;

interface Run {
  workers: number;
  batch: number;
  epochSamplesPerSec: number[];
  epochSeconds: number[];
}

function run(workers: number, batch: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'permafrost-scaling-'));
  const report = join(dir, 'report.json');
  const args = [CLI, 'coordinator', 'start', '--local-workers', String(workers), '--model', 'mobilenet_v2', '--input-size', '96']
    .concat(['--head', 'gap-128', '--dataset', 'fashion-mnist', '--train-samples', String(SAMPLES), '--val-samples', '64', '--epochs', '3'])
    .concat(['--batch-size', String(batch), '--cache-dir', join(dir, 'cache'), '--checkpoint-dir', join(dir, 'ckpt'), '--report', report]);
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
        done({ workers, batch, epochSamplesPerSec: r.epochs.map((e) => e.samplesPerSec), epochSeconds: r.epochs.map((e) => e.seconds) });
      } catch (e) {
        fail(e);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const runs: Run[] = [];
for (const batch of BATCHES) {
  for (const workers of [1, 2]) {
    process.stderr.write(`running ${workers} worker(s), batch ${batch}...\n`);
    runs.push(await run(workers, batch));
  }
}
const rows: (string | number)[][] = [];
const ratios: Record<string, { epoch1: number; cached: number }> = {};
for (const batch of BATCHES) {
  const one = runs.find((r) => r.batch === batch && r.workers === 1) as Run;
  const two = runs.find((r) => r.batch === batch && r.workers === 2) as Run;
  const cached = (r: Run) => median(r.epochSamplesPerSec.slice(1));
  const first = (r: Run) => r.epochSamplesPerSec[0] ?? Number.NaN;
  ratios[batch] = { epoch1: first(two) / first(one), cached: cached(two) / cached(one) };
  rows.push([
    String(batch),
    first(one),
    first(two),
    `${(first(two) / first(one)).toFixed(2)}x`,
    cached(one),
    cached(two),
    `${(cached(two) / cached(one)).toFixed(2)}x`,
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
  `coordinator + N local workers, mobilenet_v2 96x96 / out_relu / gap-128-10, ${SAMPLES} Fashion-MNIST samples, 3 epochs; samples/s per epoch as the coordinator measures it (epoch 1 fills the cache, epochs 2+ median). Target: cached epochs with 2 workers at least 1.6x 1 worker.`,
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

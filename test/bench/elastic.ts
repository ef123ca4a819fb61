/**
 * Benchmark: what losing a worker costs an elastic job, on the bundled job
 * (examples/mnist.yaml: mobilenet_v2 cut at out_relu, head gap-128) with 3 local workers.
 *
 *   recovery  --kills jobs of 3 epochs, one after another on the same caches (the first job fills
 *             them): in each, worker local-1 is killed with SIGKILL 300 ms into epoch 2 (a cached
 *             epoch); the time from the kill to the first step a survivor completes in the new
 *             generation (its `generation resumed` log line).
 *   commit    the in-memory commit every rank makes after every step (the suffix's weights and
 *             the optimizer slots): its mean milliseconds (each survivor's `worker finished` line)
 *             against a cached step (epoch 1's training seconds per step of a job on warm caches).
 *
 * Run: npx nx run bench:elastic -- [--kills 10] [--samples 1920] [--val 96] [--input-size 32] [--batch 32]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, machine, median, writeResults } from './support/bench-util';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'bin/permafrost.mjs');
const KILLS = Number(arg('kills', '10'));
const SAMPLES = Number(arg('samples', '1920'));
const VAL = Number(arg('val', '96'));
const INPUT = Number(arg('input-size', '32'));
const BATCH = Number(arg('batch', '32'));

export interface Kill {
  /** from the SIGKILL to the first step a survivor completed in generation 2 */
  recoverySeconds: number;
  /** the coordinator's own measure: the first sign of the loss to the new generation's start */
  secondsLost: number;
  resumeStep: number;
  /** each survivor's mean commit, ms */
  commitMs: number[];
  /** training seconds per step of epoch 1 (cached unless this is the first job) */
  stepSeconds: number;
  cachedEpoch1: boolean;
}

/** One job; local-1 is killed 300 ms into epoch 2. */
function job(cacheDir: string): Promise<Kill> {
  const dir = mkdtempSync(join(tmpdir(), 'permafrost-elastic-'));
  const report = join(dir, 'report.json');
  const flags = ['--config', join(ROOT, 'examples/mnist.yaml'), '--local-workers', '3', '--epochs', '3'];
  const sizes = [
    '--train-samples',
    String(SAMPLES),
    '--val-samples',
    String(VAL),
    '--input-size',
    String(INPUT),
    '--batch-size',
    String(BATCH),
  ];
  const paths = ['--cache-dir', cacheDir, '--checkpoint-dir', join(dir, 'ckpt'), '--report', report];
  const child = spawn(process.execPath, [CLI, 'coordinator', 'start', ...flags, ...sizes, ...paths], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  let killedAt = 0;
  child.stderr.on('data', (c: Buffer) => {
    log += c.toString();
    if (killedAt === 0 && /"msg":"epoch 1\/3"/.test(log)) {
      killedAt = -1;
      setTimeout(() => {
        const pid = workerPid(child.pid as number);
        killedAt = Date.now();
        process.kill(pid, 'SIGKILL');
      }, 300);
    }
  });
  return new Promise((done, fail) => {
    child.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`job exited ${code}:\n${log.slice(-2000)}`);
        done(measure(log, killedAt, JSON.parse(readFileSync(report, 'utf8'))));
      } catch (e) {
        fail(e);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

function workerPid(coordinator: number): number {
  const out = execFileSync('pgrep', ['-P', String(coordinator), '-f', ' --id local-1 ']);
  return Number(out.toString().trim().split('\n')[0]);
}

function lines(log: string, msg: string): Record<string, unknown>[] {
  return log
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function measure(
  log: string,
  killedAt: number,
  report: { membership: { secondsLost: number; resumeStep: number }[]; epochs: { seconds: number; cacheMisses: number }[] },
): Kill {
  const resumed = lines(log, 'generation resumed').filter((l) => l.generation === 2);
  const first = Math.min(...resumed.map((l) => Date.parse(String(l.time))));
  const change = report.membership[0];
  if (!change || !Number.isFinite(first)) throw new Error(`no new generation after the kill:\n${log.slice(-2000)}`);
  const commitMs = lines(log, 'worker finished').map((l) => (l.commits as { meanMs: number }).meanMs);
  const epoch1 = report.epochs[0] as { seconds: number; cacheMisses: number };
  return {
    recoverySeconds: (first - killedAt) / 1000,
    secondsLost: change.secondsLost,
    resumeStep: change.resumeStep,
    commitMs,
    stepSeconds: epoch1.seconds / Math.ceil(SAMPLES / BATCH),
    cachedEpoch1: epoch1.cacheMisses === 0,
  };
}

const cacheDir = mkdtempSync(join(tmpdir(), 'permafrost-elastic-cache-'));
try {
  const kills: Kill[] = [];
  for (let i = 0; i < KILLS; i++) {
    // job 0 fills the caches: its kill counts, its uncached epoch 1 not for the step time
    const k = await job(cacheDir);
    process.stderr.write(
      `job ${i}: recovery ${k.recoverySeconds.toFixed(2)} s, commit ${k.commitMs.join('/')} ms, step ${(1000 * k.stepSeconds).toFixed(1)} ms\n`,
    );
    kills.push(k);
  }
  const cached = kills.filter((k) => k.cachedEpoch1);
  const stepMs = 1000 * median(cached.map((k) => k.stepSeconds));
  const commitMs = median(kills.flatMap((k) => k.commitMs));
  writeResults('elastic', {
    date: new Date().toISOString(),
    machine: machine(),
    samples: SAMPLES,
    val: VAL,
    inputSize: INPUT,
    batch: BATCH,
    kills,
    medianRecoverySeconds: median(kills.map((k) => k.recoverySeconds)),
    medianCommitMs: commitMs,
    medianCachedStepMs: stepMs,
    commitShareOfStep: commitMs / stepMs,
  });
} finally {
  rmSync(cacheDir, { recursive: true, force: true });
}

/**
 * Soak (not in CI): --jobs jobs of 3 local workers, each losing worker local-1 to SIGKILL at a
 * random moment of its run; prints how many completed with the weights of the uninterrupted run
 * (1e-4 relative), as `k/N completed with equal weights`, and writes the runs to
 * test/bench/results/elastic-soak.json, from which `npm run bench:report` renders its section of
 * docs/benchmarks.md.
 *
 * Run: node --import tsx test/soak/elastic-soak.ts [--jobs 10] [--seed 1]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine } from '@permafrost/engine';
import { arg, machine, writeResults } from '../bench/support/bench-util';
import { CLI, checkpointWeights, elasticJob, maxAbsDiff, runCli, runPaths } from '../support';

const JOBS = Number(arg('jobs', '10'));
const SEED = Number(arg('seed', '1'));
let seed = SEED;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

const root = mkdtempSync(join(tmpdir(), 'permafrost-soak-'));
const job = (name: string) => elasticJob(root, name);

/** One job, local-1 killed `afterMs` after the membership formed; resolves with the exit code. */
function killed(name: string, afterMs: number): Promise<{ code: number | null; seconds: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'coordinator', 'start', '--local-workers', '3', ...job(name)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  let armed = false;
  child.stderr.on('data', (c: Buffer) => {
    log += c.toString();
    if (armed || !log.includes('"msg":"worker joined"')) return;
    armed = true;
    setTimeout(() => {
      // the coordinator's child process of worker local-1, by its id (empty once the job ended)
      try {
        const found = execFileSync('pgrep', ['-P', String(child.pid), '-f', ' --id local-1 '], { encoding: 'utf8' });
        process.kill(Number(found.trim().split('\n')[0]), 'SIGKILL');
      } catch {
        // pgrep found none: the job had ended
      }
    }, afterMs);
  });
  return new Promise((done) => child.on('exit', (code) => done({ code, seconds: (performance.now() - t0) / 1000 })));
}

const loadAtStart = loadavg()[0] ?? Number.NaN;

interface Run {
  killAfterMs: number;
  code: number | null;
  seconds: number;
  relativeDiff: number | null;
}

const completed = (runs: readonly Run[]) => runs.filter((r) => r.code === 0 && r.relativeDiff !== null && r.relativeDiff < 1e-4).length;

/** The result file: the jobs run so far of the `--jobs` asked for, and the 1-minute load average at the start and now (a shared machine). */
function result(runs: readonly Run[]) {
  const loadAverage = [loadAtStart, loadavg()[0] ?? Number.NaN].map((x) => Math.round(x * 10) / 10);
  return {
    date: new Date().toISOString(),
    machine: machine(),
    jobs: runs.length,
    asked: JOBS,
    seed: SEED,
    completed: completed(runs),
    loadAverage,
    runs,
  };
}
try {
  await initEngine('wasm');
  const single = await runCli(['train', ...job('single')], { timeoutMs: 300_000 });
  if (single.code !== 0) throw new Error(single.stderr);
  const want = await checkpointWeights(runPaths(root, 'single').checkpointDir);
  const scale = Math.max(...want.map((w) => w.reduce((a, x) => Math.max(a, Math.abs(x)), 0)));
  const runs: Run[] = [];
  for (let i = 0; i < JOBS; i++) {
    const killAfterMs = Math.round(2000 + random() * 20_000);
    const { code, seconds } = await killed(`job-${i}`, killAfterMs);
    const diff = code === 0 ? maxAbsDiff(await checkpointWeights(runPaths(root, `job-${i}`).checkpointDir), want) / scale : Number.NaN;
    // JSON has no NaN: a job that failed has no weights to compare
    runs.push({ killAfterMs, code, seconds: Math.round(seconds * 10) / 10, relativeDiff: Number.isFinite(diff) ? diff : null });
    process.stderr.write(`job ${i}: kill after ${killAfterMs} ms, exit ${code}, relative weight difference ${diff}\n`);
    // after every job: a soak cut short still leaves the jobs it ran
    writeResults('elastic-soak', result(runs));
  }
  process.stdout.write(`${completed(runs)}/${JOBS} completed with equal weights\n`);
} finally {
  rmSync(root, { recursive: true, force: true });
}

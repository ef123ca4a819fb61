/**
 * Benchmark: what TLS costs `npm start`. The quick-start job (`coordinator start --config
 * examples/mnist.yaml --local-workers 2`, what `npm start` runs) is run as it comes, encrypted and
 * authenticated under the coordinator's ephemeral CA with no flags, and with `--insecure`
 * (plaintext, unauthenticated), alternately (TLS, plaintext, TLS, plaintext, ...), `--rounds`
 * runs of each. Each run is a fresh process, timed from spawn to exit; it writes its checkpoints
 * and report to a directory of its own. Every run reads the same activation cache, filled by one
 * untimed run first (`--cache warm`, the default: the stricter case, since the allreduce is a
 * larger share of a run that does not compute the prefix), or each run gets an empty one
 * (`--cache cold`, as a first `npm start`). Each run's logs must show the transport it was meant
 * to have: both workers' allreduce over TCP with TLS on, or off.
 *
 * The result holds every run's wall seconds and its report's training seconds; the report
 * (report/start-tls.ts) derives the medians, the spread (max - min over the median) and the ratio
 * of the medians (target: TLS adds less than 5%). The 1-minute load average is recorded at the
 * start and the end: the report does not judge a ratio measured while it exceeded the vCPUs.
 *
 * Run: npx nx run bench:start-tls -- [--rounds 5] [--cache warm|cold] [--epochs N] [--train-samples N] [--val-samples N]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, machine, writeResults } from './support/bench-util';
import { cpuMark, foreignCpus } from './support/foreign-cpu';

const ROOT = resolve(import.meta.dirname, '../..');
const ROUNDS = Number(arg('rounds', '5'));
const CACHE = arg('cache', 'warm');
/** overrides of the example's own values, for a quick check of the benchmark itself */
const OVERRIDES = ['epochs', 'train-samples', 'val-samples'].flatMap((f) => (arg(f, '') ? [`--${f}`, arg(f, '')] : []));
/** a run that takes longer has hung */
const RUN_TIMEOUT_MS = 1_800_000;

export type Variant = 'tls' | 'plaintext';

/** one run of the result file */
export interface Run {
  variant: Variant;
  wallSeconds: number;
  /** the run report's final.seconds: training and validation, after the workers joined */
  trainSeconds: number;
  valAccuracy: number;
}

/** The allreduce transports the run's workers logged: one `tls` flag per worker. */
function transportsLogged(stderr: string): boolean[] {
  return stderr
    .split('\n')
    .filter((l) => l.includes('"msg":"allreduce transport"'))
    .map((l) => (JSON.parse(l) as { tls?: boolean }).tls === true);
}

/** One `npm start` run of `variant` in `dir`, with its activation cache at `cacheDir`. */
function startRun(variant: Variant, dir: string, cacheDir: string): Promise<Run> {
  const report = join(dir, 'report.json');
  const args = [
    join(ROOT, 'bin/permafrost.mjs'),
    ...['coordinator', 'start', '--config', 'examples/mnist.yaml', '--local-workers', '2'],
    ...['--cache-dir', cacheDir, '--checkpoint-dir', join(dir, 'checkpoints'), '--report', report],
    ...OVERRIDES,
    ...(variant === 'plaintext' ? ['--insecure'] : []),
  ];
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PERMAFROST_LOG: 'info' },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return fail(new Error(`the ${variant} run exited ${code}:\n${stderr.split('\n').slice(-5).join('\n')}`));
      const tls = transportsLogged(stderr);
      if (tls.length !== 2 || tls.some((on) => on !== (variant === 'tls'))) {
        return fail(new Error(`the ${variant} run's workers logged allreduce transports with tls ${JSON.stringify(tls)}`));
      }
      const final = (JSON.parse(readFileSync(report, 'utf8')) as { final: { seconds: number; valAccuracy: number } }).final;
      done({ variant, wallSeconds, trainSeconds: final.seconds, valAccuracy: final.valAccuracy });
    });
  });
}

async function main(): Promise<void> {
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds ${ROUNDS}: a positive integer`);
  if (CACHE !== 'warm' && CACHE !== 'cold') throw new Error(`--cache ${CACHE}: warm or cold`);
  const load = [loadavg()[0] as number];
  const scratch = mkdtempSync(join(tmpdir(), 'permafrost-start-tls-'));
  try {
    const sharedCache = join(scratch, 'cache');
    let n = 0;
    // per timed run, the vCPUs other work kept busy meanwhile (foreign-cpu.ts)
    const foreignCpu: (number | undefined)[] = [];
    const run = async (variant: Variant) => {
      const dir = join(scratch, `run-${n++}`);
      process.stderr.write(`run ${n}: ${variant}\n`);
      const mark = cpuMark();
      const r = await startRun(variant, dir, CACHE === 'warm' ? sharedCache : join(dir, 'cache'));
      foreignCpu.push(foreignCpus(mark, cpuMark()));
      return r;
    };
    if (CACHE === 'warm') {
      await run('plaintext');
      foreignCpu.pop();
    }
    const runs: Run[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      for (const v of ['tls', 'plaintext'] as const) {
        const r = await run(v);
        process.stderr.write(`  ${r.wallSeconds.toFixed(1)} s\n`);
        runs.push(r);
      }
    }
    load.push(loadavg()[0] as number);
    writeResults('start-tls', {
      date: new Date().toISOString(),
      machine: machine(),
      job: { config: 'examples/mnist.yaml', localWorkers: 2, overrides: OVERRIDES },
      rounds: ROUNDS,
      cache: CACHE,
      load,
      foreignCpu,
      runs,
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();

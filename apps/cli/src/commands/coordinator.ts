import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { JobFailed, runCoordinator } from '@permafrost/coordinator';
import { loadJob } from '@permafrost/job';
import type { Command } from 'commander';
import { addJobFlags, jobOverrides } from '../job-flags';
import { parseCount } from '../parse';

export function registerCoordinator(program: Command): void {
  const coordinator = program.command('coordinator').description('the control plane of a distributed job');
  const start = coordinator
    .command('start')
    .description('validate the job, wait for workers, drive the epochs, write the report; exit 0 when done')
    .option('--listen <host:port>', 'where workers reach the coordinator (default 127.0.0.1:0 with local workers, else 0.0.0.0:7070)')
    .option('--local-workers <n>', 'spawn N worker processes on loopback (the embedded default)')
    .option('--min-workers <n>', 'workers to wait for (cluster.minWorkers)')
    .option('--join-timeout-ms <ms>', 'how long to wait for workers to join (cluster.joinTimeoutMs)')
    .option('--transport <tcp|grpc>', 'what carries the allreduce between workers (cluster.transport, default tcp)')
    .option('--resume', 'continue from the latest checkpoint in checkpoint.dir')
    .option('--report <file>', 'write the JSON run report here');
  addJobFlags(start).action(async (opts: Record<string, unknown>) => {
    const overrides = jobOverrides(opts);
    const local = opts.localWorkers === undefined ? undefined : parseCount(String(opts.localWorkers), '--local-workers', 0);
    if (local !== undefined) overrides['cluster.localWorkers'] = local;
    if (opts.minWorkers !== undefined) overrides['cluster.minWorkers'] = parseCount(String(opts.minWorkers), '--min-workers', 1);
    if (opts.joinTimeoutMs !== undefined)
      overrides['cluster.joinTimeoutMs'] = parseCount(String(opts.joinTimeoutMs), '--join-timeout-ms', 1);
    if (opts.listen !== undefined) overrides['cluster.listen'] = String(opts.listen);
    if (opts.transport !== undefined) overrides['cluster.transport'] = String(opts.transport);
    const job = await loadJob(opts.config as string | undefined, overrides);
    const localWorkers = job.cluster.localWorkers;
    const listen = opts.listen !== undefined ? String(opts.listen) : localWorkers > 0 ? '127.0.0.1:0' : job.cluster.listen;
    const cacheRoot = resolve(job.cache.dir);
    const entry = process.argv[1] ?? '';
    try {
      const report = await runCoordinator({
        job,
        listen,
        localWorkers,
        resume: Boolean(opts.resume),
        reportPath: opts.report as string | undefined,
        spawnWorker: (i, address) =>
          spawn(
            process.execPath,
            [
              ...process.execArgv,
              ...sharedHostFlags(localWorkers),
              entry,
              'worker',
              'start',
              '--coordinator',
              address,
              '--id',
              `local-${i}`,
              '--cache-dir',
              join(cacheRoot, `local-${i}`),
            ],
            { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PERMAFROST_WORKER_INDEX: String(i) } },
          ),
      });
      process.stdout.write(
        `${JSON.stringify({ valAccuracy: report.final.valAccuracy, valLoss: report.final.valLoss, workers: report.workers, seconds: Math.round(report.final.seconds * 100) / 100, checkpoint: report.final.checkpoint })}\n`,
      );
    } catch (e) {
      if (e instanceof JobFailed) throw new JobFailedExit(e.message);
      throw e;
    }
  });
}

/** A failed distributed job: one line, exit 1 (not a user error, not a bug). */
export class JobFailedExit extends Error {
  override readonly name = 'JobFailedExit';
  readonly exitCode = 1;
}

/**
 * Node flags for workers that share this host. Like torchrun, which sets OMP_NUM_THREADS=1 when it
 * starts several processes on a node: each worker's collector would otherwise mark and sweep on
 * background threads (about 0.4 of a core per worker in a cached epoch), and with two workers on
 * two cores those threads preempt the other worker's training thread, which then stalls both at
 * the next allreduce. Collecting on the worker's own thread costs that worker little and keeps
 * the lockstep tight (see the scaling benchmark). A single local worker keeps V8's defaults.
 */
function sharedHostFlags(localWorkers: number): string[] {
  return localWorkers > 1 ? ['--single-threaded-gc'] : [];
}

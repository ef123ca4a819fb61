import { runCoordinator } from '@permafrost/coordinator';
import { loadJob, type Overrides } from '@permafrost/job';
import { tlsFilesOf } from '@permafrost/security';
import { startCoordinatorServer } from '@permafrost/transport-grpc';
import type { Command } from 'commander';
import { HANDSHAKE_TIMEOUT_FLAG, HANDSHAKE_TIMEOUT_HELP, handshakeTimeoutMs } from '../handshake-timeout';
import { addJobFlags, jobOverrides } from '../job-flags';
import { parseCount } from '../parse';

export function registerCoordinator(program: Command): void {
  const coordinator = program.command('coordinator').description('the control plane of a distributed job');
  const start = coordinator
    .command('start')
    .description('validate the job, wait for workers, drive the epochs, write the report; exit 0 when done')
    .option('--listen <host:port>', 'where workers reach the coordinator (default 127.0.0.1:0 with local workers, else cluster.listen)')
    .option('--local-workers <n>', 'spawn N worker processes on loopback (the embedded default)')
    .option('--min-workers <n>', 'workers to wait for (cluster.minWorkers)')
    .option('--join-timeout-ms <ms>', 'how long to wait for workers to join (cluster.joinTimeoutMs)')
    .option('--transport <tcp|grpc>', 'what carries the allreduce between workers (cluster.transport, default tcp)')
    .option('--job-id <id>', "this job's id, which its workers' messages must carry (cluster.jobId, default random)")
    .option('--tls-ca <file>', "the job CA's certificate; client certificates must come from it (cluster.tls.ca)")
    .option('--tls-cert <file>', "the coordinator's certificate (cluster.tls.cert; `permafrost certs init` makes them)")
    .option('--tls-key <file>', "the coordinator's private key (cluster.tls.key)")
    .option('--insecure', 'run without TLS: unencrypted, unauthenticated (cluster.insecure; logs a warning)')
    .option('--token-file <file>', 'the job token tools may present for Status (cluster.tokenFile; default: $PERMAFROST_TOKEN)')
    .option('--resume', 'continue from the latest checkpoint in checkpoint.dir')
    .option(HANDSHAKE_TIMEOUT_FLAG, HANDSHAKE_TIMEOUT_HELP)
    .option('--report <file>', 'write the JSON run report here')
    .option(
      '--http <host:port>',
      'serve /healthz, /metrics, /api/status and the dashboard here (observe.http; default 127.0.0.1:0 with local workers)',
    )
    .option('--linger-ms <ms>', 'keep the HTTP port up this long after the job ends, for a last scrape (observe.lingerMs, default 0)');
  addJobFlags(start).action(async (opts: Record<string, unknown>) => {
    const job = await loadJob(opts.config as string | undefined, { ...jobOverrides(opts), ...clusterOverrides(opts) });
    const localWorkers = job.cluster.localWorkers;
    const guard = { handshakeTimeoutMs: handshakeTimeoutMs(opts.handshakeTimeoutMs) };
    // local workers read the variable: the flag given here applies to their ports too
    if (guard.handshakeTimeoutMs !== undefined) process.env.PERMAFROST_HANDSHAKE_TIMEOUT_MS = String(guard.handshakeTimeoutMs);
    const listen = opts.listen !== undefined ? String(opts.listen) : localWorkers > 0 ? '127.0.0.1:0' : job.cluster.listen;
    const report = await runCoordinator({
      job,
      listen,
      serve: (address, handlers, security) => startCoordinatorServer(address, handlers, security, guard),
      localWorkers,
      resume: Boolean(opts.resume),
      reportPath: opts.report as string | undefined,
    });
    const { valAccuracy, valLoss, seconds, checkpoint } = report.final;
    process.stdout.write(
      `${JSON.stringify({ valAccuracy, valLoss, workers: report.workers, seconds: Math.round(seconds * 100) / 100, checkpoint })}\n`,
    );
  });
}

/** The coordinator's own flags, as job-spec overrides of the cluster section. */
function clusterOverrides(opts: Record<string, unknown>): Overrides {
  const out: Overrides = {};
  if (opts.localWorkers !== undefined) out['cluster.localWorkers'] = parseCount(String(opts.localWorkers), '--local-workers', 0);
  if (opts.minWorkers !== undefined) out['cluster.minWorkers'] = parseCount(String(opts.minWorkers), '--min-workers', 1);
  if (opts.joinTimeoutMs !== undefined) out['cluster.joinTimeoutMs'] = parseCount(String(opts.joinTimeoutMs), '--join-timeout-ms', 1);
  if (opts.listen !== undefined) out['cluster.listen'] = String(opts.listen);
  if (opts.transport !== undefined) out['cluster.transport'] = String(opts.transport);
  if (opts.jobId !== undefined) out['cluster.jobId'] = String(opts.jobId);
  if (opts.http !== undefined) out['observe.http'] = String(opts.http);
  if (opts.lingerMs !== undefined) out['observe.lingerMs'] = parseCount(String(opts.lingerMs), '--linger-ms', 0);
  const tls = tlsFilesOf({ ca: opts.tlsCa as string, cert: opts.tlsCert as string, key: opts.tlsKey as string });
  if (tls) out['cluster.tls'] = tls;
  if (opts.insecure) out['cluster.insecure'] = true;
  if (opts.tokenFile !== undefined) out['cluster.tokenFile'] = String(opts.tokenFile);
  return out;
}

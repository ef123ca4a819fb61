import { validateWorkerSettings } from '@permafrost/job';
import { runWorker } from '@permafrost/worker';
import type { Command } from 'commander';
import { HANDSHAKE_TIMEOUT_FLAG, HANDSHAKE_TIMEOUT_HELP, handshakeTimeoutMs } from '../handshake-timeout';
import { parseCount } from '../parse';

/** flag of each worker setting, for errors */
const FLAGS: Record<string, string> = {
  coordinator: '--coordinator',
  listen: '--listen',
  advertise: '--advertise',
  dataListen: '--data-listen',
  dataAdvertise: '--data-advertise',
  cacheDir: '--cache-dir',
  id: '--id',
  jobId: '--job-id',
  joinTimeoutMs: '--join-timeout-ms',
  collectiveTimeoutMs: '--collective-timeout-ms',
  coordinatorGraceMs: '--coordinator-grace-ms',
  threads: '--threads',
  sharedMemoryBytes: '--shared-memory-bytes',
  handshakeTimeoutMs: '--handshake-timeout-ms',
  http: '--http',
  lingerMs: '--linger-ms',
  tlsCa: '--tls-ca',
  tlsCert: '--tls-cert',
  tlsKey: '--tls-key',
  insecure: '--insecure',
};

export function registerWorker(program: Command): void {
  const worker = program.command('worker').description('a data-plane process of a distributed job');
  worker
    .command('start')
    .description("join a coordinator, train this worker's shards, serve the data plane; exit when the job ends")
    .requiredOption('--coordinator <host:port>', 'the coordinator to join')
    .option('--listen <host:port>', 'Peer service address (default 127.0.0.1:0)')
    .option('--advertise <host:port>', 'the address peers dial (default: the bound --listen address)')
    .option('--data-listen <host:port>', "TCP data plane address (default: --listen's host, any free port)")
    .option('--data-advertise <host:port>', "the data address peers dial (default: --advertise's host with the bound data port)")
    .option('--cache-dir <dir>', "this worker's activation cache (default .permafrost/cache)")
    .option('--id <id>', 'stable worker id (default: host name + cache directory)')
    .option('--job-id <id>', 'the job this worker is for: a coordinator running another job refuses it (default: any)')
    .option('--join-timeout-ms <ms>', 'give up joining after this long (default 60000)')
    .option('--collective-timeout-ms <ms>', "deadline of each allreduce receive (default: the job's cluster.collectiveTimeoutMs)")
    .option(
      '--coordinator-grace-ms <ms>',
      "keep the training state and retry a lost coordinator this long, then exit; 0: exit at once (default: the job's cluster.coordinatorGraceMs, or PERMAFROST_COORDINATOR_GRACE_MS)",
    )
    .option('--threads <n|auto>', 'wasm: XNNPACK threads of this worker (default auto: every core)')
    .option(HANDSHAKE_TIMEOUT_FLAG, HANDSHAKE_TIMEOUT_HELP)
    .option(
      '--shared-memory-bytes <n>',
      'shared segment per data connection to a rank on this host; 0: values over TCP only (default 8388608, or PERMAFROST_SHARED_MEMORY_BYTES)',
    )
    .option('--http <host:port>', "serve this worker's /healthz and /metrics here (default: none)")
    .option('--linger-ms <ms>', 'keep the HTTP port up this long after the job ends, for a last scrape (default 0)')
    .option('--tls-ca <file>', "the job CA's certificate: the coordinator's and peers' certificates must come from it")
    .option('--tls-cert <file>', "this worker's certificate (`permafrost certs init`)")
    .option('--tls-key <file>', "this worker's private key")
    .option('--insecure', 'run without TLS: unencrypted, unauthenticated (logs a warning)')
    .action(async (opts: Record<string, string | undefined>) => {
      const counts = ['joinTimeoutMs', 'collectiveTimeoutMs', 'threads'] as const;
      const input: Record<string, unknown> = { ...opts };
      for (const k of counts) {
        if (opts[k] !== undefined && !(k === 'threads' && opts[k] === 'auto'))
          input[k] = parseCount(opts[k] as string, FLAGS[k] as string, 1);
      }
      if (opts.lingerMs !== undefined) input.lingerMs = parseCount(opts.lingerMs, '--linger-ms', 0);
      const grace = opts.coordinatorGraceMs ?? process.env.PERMAFROST_COORDINATOR_GRACE_MS;
      const graceFlag = opts.coordinatorGraceMs !== undefined ? '--coordinator-grace-ms' : 'PERMAFROST_COORDINATOR_GRACE_MS';
      if (grace !== undefined && grace !== '') input.coordinatorGraceMs = parseCount(grace, graceFlag, 0);
      const shm = opts.sharedMemoryBytes ?? process.env.PERMAFROST_SHARED_MEMORY_BYTES;
      const shmFlag = opts.sharedMemoryBytes !== undefined ? '--shared-memory-bytes' : 'PERMAFROST_SHARED_MEMORY_BYTES';
      input.sharedMemoryBytes = shm === undefined || shm === '' ? undefined : parseCount(shm, shmFlag, 0);
      input.handshakeTimeoutMs = handshakeTimeoutMs(opts.handshakeTimeoutMs);
      await runWorker(validateWorkerSettings(input, (field) => FLAGS[field] ?? field));
    });
}

import { UserError } from '@permafrost/telemetry';
import { runWorker, WorkerError } from '@permafrost/worker';
import type { Command } from 'commander';
import { parseCount } from '../parse';
import { JobFailedExit } from './coordinator';

/** --shared-memory-bytes, else PERMAFROST_SHARED_MEMORY_BYTES (how local workers get it), else the default */
function sharedMemoryBytes(flag: string | undefined): number | undefined {
  if (flag !== undefined) return parseCount(flag, '--shared-memory-bytes', 0);
  const env = process.env.PERMAFROST_SHARED_MEMORY_BYTES;
  return env === undefined || env === '' ? undefined : parseCount(env, 'PERMAFROST_SHARED_MEMORY_BYTES', 0);
}

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
    .option('--join-timeout-ms <ms>', 'give up joining after this long (default 60000)')
    .option(
      '--shared-memory-bytes <n>',
      'shared segment per data connection to a rank on this host; 0: values over TCP only (default 8388608, or PERMAFROST_SHARED_MEMORY_BYTES)',
    )
    .action(
      async (opts: {
        coordinator: string;
        listen?: string;
        advertise?: string;
        dataListen?: string;
        dataAdvertise?: string;
        cacheDir?: string;
        id?: string;
        joinTimeoutMs?: string;
        sharedMemoryBytes?: string;
      }) => {
        for (const [flag, value] of [
          ['--coordinator', opts.coordinator],
          ['--data-listen', opts.dataListen],
          ['--data-advertise', opts.dataAdvertise],
        ] as const) {
          if (value !== undefined && !/^[^:\s]+:\d+$/.test(value) && !/^\[[^\]]+\]:\d+$/.test(value)) {
            throw new UserError(`expected HOST:PORT, got '${value}'`, flag);
          }
        }
        try {
          await runWorker({
            coordinator: opts.coordinator,
            listen: opts.listen,
            advertise: opts.advertise,
            dataListen: opts.dataListen,
            dataAdvertise: opts.dataAdvertise,
            cacheDir: opts.cacheDir,
            id: opts.id,
            joinTimeoutMs: opts.joinTimeoutMs === undefined ? undefined : parseCount(opts.joinTimeoutMs, '--join-timeout-ms', 1),
            sharedMemoryBytes: sharedMemoryBytes(opts.sharedMemoryBytes),
          });
        } catch (e) {
          if (e instanceof WorkerError) throw new JobFailedExit(e.message);
          throw e;
        }
      },
    );
}

import { UserError } from '@permafrost/telemetry';
import { runWorker, WorkerError } from '@permafrost/worker';
import type { Command } from 'commander';
import { parseCount } from '../parse';
import { JobFailedExit } from './coordinator';

export function registerWorker(program: Command): void {
  const worker = program.command('worker').description('a data-plane process of a distributed job');
  worker
    .command('start')
    .description("join a coordinator, train this worker's shards, serve the Peer service; exit when the job ends")
    .requiredOption('--coordinator <host:port>', 'the coordinator to join')
    .option('--listen <host:port>', 'Peer service address (default 127.0.0.1:0)')
    .option('--advertise <host:port>', 'the address peers dial (default: the bound --listen address)')
    .option('--cache-dir <dir>', "this worker's activation cache (default .permafrost/cache)")
    .option('--id <id>', 'stable worker id (default: host name + cache directory)')
    .option('--join-timeout-ms <ms>', 'give up joining after this long (default 60000)')
    .action(
      async (opts: {
        coordinator: string;
        listen?: string;
        advertise?: string;
        cacheDir?: string;
        id?: string;
        joinTimeoutMs?: string;
      }) => {
        if (!/^[^:\s]+:\d+$/.test(opts.coordinator) && !/^\[[^\]]+\]:\d+$/.test(opts.coordinator)) {
          throw new UserError(`expected HOST:PORT, got '${opts.coordinator}'`, '--coordinator');
        }
        try {
          await runWorker({
            coordinator: opts.coordinator,
            listen: opts.listen,
            advertise: opts.advertise,
            cacheDir: opts.cacheDir,
            id: opts.id,
            joinTimeoutMs: opts.joinTimeoutMs === undefined ? undefined : parseCount(opts.joinTimeoutMs, '--join-timeout-ms', 1),
          });
        } catch (e) {
          if (e instanceof WorkerError) throw new JobFailedExit(e.message);
          throw e;
        }
      },
    );
}

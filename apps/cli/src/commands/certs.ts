import { initCertsDir } from '@permafrost/security';
import type { Command } from 'commander';
import { parseCount } from '../parse';

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerCerts(program: Command): void {
  const certs = program.command('certs').description("a job's TLS certificates");
  certs
    .command('init')
    .description('create a job CA and certificates for the coordinator, N workers and a tool (keys 0600)')
    .requiredOption('--out <dir>', 'directory to write into (created 0700; must not hold a CA yet)')
    .option('--workers <n>', 'worker certificates to issue, worker-0 .. worker-(n-1) (default 1)')
    .option('--worker-prefix <prefix>', "worker certificates' names before the index: the worker ids (default worker-)")
    .option('--san <name>', 'a host name or address the coordinator and workers are reached at (repeatable; loopback always)', collect, [])
    .option('--days <n>', 'validity in days (default 90)')
    .action(async (opts: { out: string; workers?: string; workerPrefix?: string; san: string[]; days?: string }) => {
      const workers = opts.workers === undefined ? 1 : parseCount(opts.workers, '--workers', 0);
      const days = opts.days === undefined ? 90 : parseCount(opts.days, '--days', 1);
      const r = await initCertsDir(opts.out, { workers, workerPrefix: opts.workerPrefix, sans: opts.san, days, label: opts.out });
      const lines = [`ca: ${r.ca} (its key ${r.caKey}: keep it offline)`];
      for (const [name, f] of Object.entries(r.files)) lines.push(`${name}: ${f.cert} ${f.key}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

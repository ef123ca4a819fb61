/**
 * Certificates for cross-process tests that start a coordinator and its workers separately: one
 * job CA per test process, made by the real `permafrost certs init` on first use, in a temporary
 * directory removed when the process exits. runCli and startCli add these flags to `coordinator
 * start` (without local workers) and `worker start` unless the arguments already choose
 * (`--tls-ca`, `--insecure`) or the test asks for none (`tls: false`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** worker certificates issued; CLI workers of one test process take worker-0..6 in turn, worker-7 is for a test's own client */
const WORKERS = 8;
let dir: string | undefined;
let nextWorker = 0;

/** The certificate directory of this test process (`certs init --workers 8`). */
export function fleetCertsDir(cli: string): string {
  if (dir) return dir;
  const made = mkdtempSync(join(tmpdir(), 'permafrost-fleet-certs-'));
  process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  execFileSync(process.execPath, [cli, 'certs', 'init', '--out', join(made, 'job'), '--workers', String(WORKERS), '--days', '1'], {
    stdio: 'ignore',
  });
  dir = join(made, 'job');
  return dir;
}

/** The TLS files of holder `name` (coordinator, tool, worker-i), for clients a test makes itself. */
export function fleetTls(cli: string, name: string): { ca: string; cert: string; key: string } {
  const d = fleetCertsDir(cli);
  return { ca: join(d, 'ca.pem'), cert: join(d, `${name}.pem`), key: join(d, `${name}-key.pem`) };
}

/** `--tls-*` flags for holder `name` (coordinator, tool, worker-i) of this process's job CA. */
export function tlsFlags(cli: string, name: string): string[] {
  const f = fleetTls(cli, name);
  return ['--tls-ca', f.ca, '--tls-cert', f.cert, '--tls-key', f.key];
}

/** `args` with this process's certificates added where a coordinator or worker would need them. */
export function withFleetTls(cli: string, args: string[]): string[] {
  if (args.includes('--tls-ca') || args.includes('--insecure')) return args;
  if (args[0] === 'coordinator' && args[1] === 'start' && !args.includes('--local-workers')) {
    return [...args, ...tlsFlags(cli, 'coordinator')];
  }
  if (args[0] === 'worker' && args[1] === 'start') return [...args, ...tlsFlags(cli, `worker-${nextWorker++ % (WORKERS - 1)}`)];
  return args;
}

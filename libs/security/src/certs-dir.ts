/**
 * Certificates on disk: `permafrost certs init` writes a job's CA and the certificates of its
 * coordinator, workers and a tool into a directory; `ephemeralCertificates` does the same for a
 * coordinator's local workers in a private temporary directory, without keeping the CA's key.
 * Key files are mode 0600, directories 0700.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '@permafrost/telemetry';
import { createCa, issueCertificate, type Pem } from './certificates';
import type { TlsFiles } from './tls-files';

/** names a certificate serves under by default: loopback */
export const LOOPBACK_SANS = ['localhost', '127.0.0.1', '::1'];

async function writePair(dir: string, name: string, pem: Pem): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  await writeFile(cert, pem.cert, { mode: 0o644 });
  await writeFile(key, pem.key, { mode: 0o600 });
  // writeFile's mode applies only to new files and passes through the umask
  await chmod(key, 0o600);
  return { cert, key };
}

export interface CertsInitOptions {
  /** worker certificates to issue: <workerPrefix>0 .. <workerPrefix>(n-1) */
  workers: number;
  /**
   * what worker certificates are named before their index (default `worker-`); a StatefulSet's
   * pod names (`permafrost-worker-`) let each pod find its own as `$(POD_NAME).pem`
   */
  workerPrefix?: string;
  /** host names and addresses the coordinator and workers serve under, besides loopback */
  sans: readonly string[];
  days: number;
  /** goes into the CA's name */
  label: string;
}

/** What `certs init` wrote, by holder. */
export interface CertsInitResult {
  ca: string;
  caKey: string;
  files: Record<string, { cert: string; key: string }>;
}

/** Writes a new CA and its certificates into `out` (created 0700); refuses to overwrite a CA. */
export async function initCertsDir(out: string, o: CertsInitOptions): Promise<CertsInitResult> {
  // a file name and a certificate's CN: no separators, nothing a shell or DNS would mangle
  if (o.workerPrefix !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(o.workerPrefix)) {
    throw new UserError(`'${o.workerPrefix}' is not a name prefix (letters, digits, '.', '-')`, '--worker-prefix');
  }
  if (existsSync(join(out, 'ca.pem'))) throw new UserError(`${join(out, 'ca.pem')} exists; choose an empty directory`, '--out');
  await mkdir(out, { recursive: true, mode: 0o700 });
  const v = { days: o.days };
  const ca = await createCa(o.label, v);
  const sans = [...LOOPBACK_SANS, ...o.sans];
  const holders: [string, Promise<Pem>][] = [
    ['coordinator', issueCertificate(ca, { role: 'coordinator', name: 'coordinator', sans }, v)],
    ['tool', issueCertificate(ca, { role: 'tool', name: 'tool' }, v)],
  ];
  const prefix = o.workerPrefix ?? 'worker-';
  for (let i = 0; i < o.workers; i++) {
    const name = `${prefix}${i}`;
    holders.push([name, issueCertificate(ca, { role: 'worker', name, sans }, v)]);
  }
  const caFiles = await writePair(out, 'ca', ca);
  const files: CertsInitResult['files'] = {};
  for (const [name, pem] of holders) files[name] = await writePair(out, name, await pem);
  return { ca: caFiles.cert, caKey: caFiles.key, files };
}

/** A coordinator's and its local workers' TLS files, valid for this run only. */
export interface EphemeralCertificates {
  dir: string;
  coordinator: TlsFiles;
  worker(index: number): TlsFiles;
  /** removes the directory (idempotent, synchronous-safe at exit) */
  remove(): Promise<void>;
}

/**
 * A fresh CA and certificates for a coordinator and `workers` local workers (`local-<i>`), on
 * loopback, valid for two days, in a new 0700 directory under the system's temporary directory.
 * The CA's key is not written: nothing else can be issued under this CA.
 */
export async function ephemeralCertificates(workers: number, label: string): Promise<EphemeralCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'permafrost-tls-'));
  await chmod(dir, 0o700);
  try {
    const v = { days: 2 };
    const ca = await createCa(label, v);
    const issued = await Promise.all([
      issueCertificate(ca, { role: 'coordinator', name: 'coordinator', sans: LOOPBACK_SANS }, v),
      ...Array.from({ length: workers }, (_, i) => issueCertificate(ca, { role: 'worker', name: `local-${i}`, sans: LOOPBACK_SANS }, v)),
    ]);
    const caPath = join(dir, 'ca.pem');
    await writeFile(caPath, ca.cert, { mode: 0o644 });
    const pairs = [];
    for (const [i, pem] of issued.entries()) pairs.push(await writePair(dir, i === 0 ? 'coordinator' : `local-${i - 1}`, pem as Pem));
    const files = pairs.map((p) => ({ ca: caPath, ...p }));
    return {
      dir,
      coordinator: files[0] as TlsFiles,
      worker: (i) => files[i + 1] as TlsFiles,
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

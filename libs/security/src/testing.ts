/**
 * Test support: a job CA whose holders' files are renewed in place, as cert-manager rotates a
 * Secret's files, for tests that check a server or client picks up rotated certificates. The CA's
 * key stays in memory; each renewal is a new key and certificate with a new serial.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate, type Validity } from './certificates';
import { LOOPBACK_SANS } from './certs-dir';
import type { Role } from './identity';
import type { TlsFiles } from './tls-files';

export interface RotatingCertificates {
  dir: string;
  /** the CA certificate's path */
  ca: string;
  /**
   * Issues holder `name` a certificate (a renewal when it has one: new files over the old, each
   * replaced at once by a rename); resolves with the files and the certificate's serial, as
   * node:tls reports it (getPeerCertificate().serialNumber). `validity` defaults to the CA's days
   * from now (an expired one: a notBefore in the past and negative days).
   */
  issue(role: Role, name: string, validity?: Validity): Promise<{ files: TlsFiles; serial: string }>;
  remove(): Promise<void>;
}

/** Hex serial of a PEM certificate, as node:tls reports a peer's. */
export const serialOf = (pem: string | Buffer): string => new X509Certificate(pem).serialNumber;

export async function rotatingCertificates(label: string, days = 1): Promise<RotatingCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'permafrost-rotate-'));
  const ca = await createCa(label, { days });
  const caPath = join(dir, 'ca.pem');
  await writeFile(caPath, ca.cert);
  const put = async (path: string, text: string) => {
    await writeFile(`${path}.new`, text, { mode: 0o600 });
    await rename(`${path}.new`, path);
  };
  return {
    dir,
    ca: caPath,
    async issue(role, name, validity = { days }) {
      const pem = await issueCertificate(ca, { role, name, sans: LOOPBACK_SANS }, validity);
      const files = { ca: caPath, cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
      await put(files.key, pem.key);
      await put(files.cert, pem.cert);
      return { files, serial: serialOf(pem.cert) };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * How a coordinator secures its job (docs/distributed.md#security), decided before anything
 * listens:
 *
 * - TLS files given (`cluster.tls`, `--tls-*`): mutual TLS under that job CA.
 * - Local workers and no files: an ephemeral CA and certificates for the coordinator and each
 *   local worker, in a private temporary directory removed when the coordinator ends (the CA's
 *   key is never written), so a local run is encrypted and authenticated with no flags.
 * - Neither: refused (UserError, exit 2), loopback included, since other users of the host can
 *   reach its loopback; unless `cluster.insecure` (`--insecure`), which logs a warning.
 *
 * The job token (`cluster.tokenFile`, else PERMAFROST_TOKEN) lets tools call the read-only
 * methods without a certificate; it is never logged.
 */
import { rmSync } from 'node:fs';
import type { JobSpec } from '@permafrost/job';
import { type EphemeralCertificates, ephemeralCertificates, loadToken, type TlsFiles } from '@permafrost/security';
import { log, UserError } from '@permafrost/telemetry';
import type { ServeSecurity } from './handlers';

export interface CoordinatorSecurity {
  serve: ServeSecurity;
  mode: 'tls' | 'ephemeral' | 'insecure';
  /** the TLS files of local worker `i`; undefined over plaintext */
  worker(i: number): TlsFiles | undefined;
  /** removes ephemeral certificates (idempotent) */
  dispose(): Promise<void>;
}

export const INSECURE_REFUSAL =
  'no TLS material: give --tls-ca, --tls-cert and --tls-key (make them with `permafrost certs init`), use --local-workers, or pass --insecure to run unencrypted and unauthenticated';

/** Removes the ephemeral directory when the process exits without reaching dispose (a signal). */
function removeAtExit(e: EphemeralCertificates): () => void {
  const onExit = () => rmSync(e.dir, { recursive: true, force: true });
  process.once('exit', onExit);
  return () => process.removeListener('exit', onExit);
}

export async function coordinatorSecurity(job: JobSpec, jobId: string): Promise<CoordinatorSecurity> {
  const { tls, insecure, localWorkers, tokenFile } = job.cluster;
  const token = loadToken(tokenFile, undefined, 'cluster.tokenFile');
  const none = { worker: () => undefined, dispose: async () => undefined };
  if (tls) {
    if (localWorkers > 0)
      throw new UserError('local workers get certificates of their own; give --tls-* to a fleet without --local-workers', '--tls-ca');
    return { serve: { tls, token }, mode: 'tls', ...none };
  }
  if (localWorkers > 0 && !insecure) {
    const e = await ephemeralCertificates(localWorkers, jobId);
    const forget = removeAtExit(e);
    const dispose = async () => {
      forget();
      await e.remove();
    };
    return { serve: { tls: e.coordinator, token }, mode: 'ephemeral', worker: (i) => e.worker(i), dispose };
  }
  if (!insecure) throw new UserError(INSECURE_REFUSAL);
  log().warn(
    'insecure: the control and data planes are unencrypted and unauthenticated; anyone who can reach the ports can join, read and disrupt the job',
  );
  return { serve: { token }, mode: 'insecure', ...none };
}

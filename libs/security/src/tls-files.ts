/**
 * TLS material as files: the job CA's certificate, and one holder's certificate and key. Servers
 * and clients are given paths (flags, job-spec fields) and read them when they start and when
 * the files change (certificate rotation).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '@permafrost/telemetry';

export interface TlsFiles {
  /** the job CA's certificate, PEM */
  ca: string;
  /** this process's certificate, PEM */
  cert: string;
  /** its private key, PEM */
  key: string;
}

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** flag names of the three files, for errors */
export const TLS_FLAGS: Record<keyof TlsFiles, string> = { ca: '--tls-ca', cert: '--tls-cert', key: '--tls-key' };

/** Reads the three files; a missing or unreadable one is a UserError naming its flag and path. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const read = (k: keyof TlsFiles) => {
    try {
      return readFileSync(files[k]);
    } catch (e) {
      throw new UserError(`cannot read ${files[k]}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`, TLS_FLAGS[k]);
    }
  };
  const m = { ca: read('ca'), cert: read('cert'), key: read('key') };
  for (const k of ['ca', 'cert', 'key'] as const) {
    if (!m[k].includes('-----BEGIN ')) throw new UserError(`${files[k]} is not a PEM file`, TLS_FLAGS[k]);
  }
  return m;
}

/** The three paths when all are given, undefined when none is; one or two alone is a UserError. */
export function tlsFilesOf(given: Partial<Record<keyof TlsFiles, string | undefined>>): TlsFiles | undefined {
  const set = (['ca', 'cert', 'key'] as const).filter((k) => given[k] !== undefined && given[k] !== '');
  if (set.length === 0) return undefined;
  const missing = (['ca', 'cert', 'key'] as const).find((k) => !set.includes(k));
  if (missing)
    throw new UserError(`${TLS_FLAGS[missing]} is needed with ${set.map((k) => TLS_FLAGS[k]).join(' and ')}`, TLS_FLAGS[missing]);
  return given as TlsFiles;
}

/** the environment variable that sets how often certificate files are read again, ms */
export const CERT_REFRESH_ENV = 'PERMAFROST_CERT_REFRESH_MS';
/** default: certificate files are read again every minute (cert-manager renews well before expiry) */
export const DEFAULT_CERT_REFRESH_MS = 60_000;

/**
 * How often servers and clients read their certificate files again, ms: PERMAFROST_CERT_REFRESH_MS
 * or a minute. Local workers inherit the variable with the coordinator's environment.
 */
export function certRefreshMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[CERT_REFRESH_ENV];
  if (v === undefined || v === '') return DEFAULT_CERT_REFRESH_MS;
  const ms = Number(v);
  if (!Number.isInteger(ms) || ms < 10)
    throw new UserError(`must be a whole number of milliseconds, at least 10, not '${v}'`, CERT_REFRESH_ENV);
  return ms;
}

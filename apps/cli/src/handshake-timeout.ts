import { parseCount } from './parse';

export const HANDSHAKE_TIMEOUT_FLAG = '--handshake-timeout-ms <ms>';
export const HANDSHAKE_TIMEOUT_HELP =
  "close a connection to this process's ports that has not completed its handshake after this long (default 5000, or PERMAFROST_HANDSHAKE_TIMEOUT_MS; local workers get the same)";

/**
 * How long the servers of `coordinator start` and `worker start` give a new connection to
 * complete its handshake: the flag's value, else PERMAFROST_HANDSHAKE_TIMEOUT_MS (which local
 * workers inherit), else undefined for the servers' default.
 */
export function handshakeTimeoutMs(flag: unknown): number | undefined {
  if (flag !== undefined) return parseCount(String(flag), '--handshake-timeout-ms', 1);
  const env = process.env.PERMAFROST_HANDSHAKE_TIMEOUT_MS;
  return env === undefined || env === '' ? undefined : parseCount(env, 'PERMAFROST_HANDSHAKE_TIMEOUT_MS', 1);
}

/** Test support: data servers on loopback and one TcpTransport per rank. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Transport } from '@permafrost/collective';
import type { TestRing } from '@permafrost/collective/testing';
import { identityOfPem } from '@permafrost/security';
import { type DataServer, type DataServerOptions, startDataServer } from './data-server';
import { sharedMemoryUnavailable } from './shared-segment';

/**
 * True when the shared-memory module is loaded; else skips the test, or fails it under
 * PERMAFROST_REQUIRE_TOOLS=1 (CI, where `npm ci` must have built it).
 */
export function nativeOrSkip(t: { skip(why: string): void }): boolean {
  const why = sharedMemoryUnavailable();
  if (why === undefined) return true;
  if (process.env.PERMAFROST_REQUIRE_TOOLS === '1') assert.fail(`${why} (PERMAFROST_REQUIRE_TOOLS=1)`);
  t.skip(why);
  return false;
}

export interface TcpTestRing extends TestRing {
  servers: DataServer[];
  addresses: string[];
}

type RingOptions = Omit<DataServerOptions, 'listen'>;

/**
 * n data servers and a transport per rank; `generations[r]` overrides rank r's generation, and
 * `opts` are every rank's options, or rank r's at opts[r].
 */
export async function ring(n: number, generations: bigint[] = [], opts: RingOptions | RingOptions[] = {}): Promise<TcpTestRing> {
  const optsOf = (r: number) => (Array.isArray(opts) ? (opts[r] ?? {}) : opts);
  const servers = await Promise.all(Array.from({ length: n }, (_, r) => startDataServer({ listen: '127.0.0.1:0', ...optsOf(r) })));
  const addresses = servers.map((s) => s.address);
  const workerIds = servers.map((_, r) => `worker-${r}`);
  // under TLS each rank is known by the name on its own certificate
  const identities = servers.map((_, r) => {
    const cert = optsOf(r).tls?.cert;
    return cert ? (identityOfPem(readFileSync(cert))?.name ?? '') : '';
  });
  const transports: Transport[] = servers.map((s, r) => s.transport(r, n, addresses, workerIds, generations[r] ?? 1n, identities));
  const open = new Set(servers);
  const shut = async (which: DataServer[]) => {
    for (const s of which) open.delete(s);
    await Promise.all(which.map((s) => s.close()));
  };
  return {
    servers,
    transports,
    addresses,
    stop: (r) => shut(servers.filter((_, i) => i === r && open.has(servers[i] as DataServer))),
    close: () => shut([...open]),
  };
}

/** Test support: data servers on loopback and one TcpTransport per rank. */
import type { Chunk, Transport } from '@permafrost/collective';
import { type DataServer, startDataServer } from './data-server';

export interface TestRing {
  servers: DataServer[];
  transports: Transport[];
  addresses: string[];
  workerIds: string[];
  /** closes the servers still open */
  close(...only: DataServer[]): Promise<void>;
}

/** n data servers and a transport per rank; `generations[r]` overrides rank r's generation. */
export async function ring(n: number, generations: bigint[] = [], connectTimeoutMs?: number): Promise<TestRing> {
  const servers = await Promise.all(Array.from({ length: n }, () => startDataServer({ listen: '127.0.0.1:0', connectTimeoutMs })));
  const addresses = servers.map((s) => s.address);
  const workerIds = servers.map((_, r) => `worker-${r}`);
  const transports = servers.map((s, r) => s.transport(r, n, addresses, workerIds, generations[r] ?? 1n));
  const open = new Set(servers);
  return {
    servers,
    transports,
    addresses,
    workerIds,
    async close(...only) {
      const which = only.length ? only : [...open];
      for (const s of which) open.delete(s);
      await Promise.all(which.map((s) => s.close()));
    },
  };
}

/** n inputs of `len` small integers (exact float32 sums whatever the order) */
export function inputs(n: number, len: number, salt = 0): Float32Array[] {
  return Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => ((r + 1) * (i + 3) + salt) % 23));
}

export const chunk = (sequence: number, values: number[], step = 0): Chunk => ({
  sequence,
  signature: 'sig',
  step,
  segment: 0,
  offset: 0,
  totalElements: 100,
  data: Float32Array.from(values),
});

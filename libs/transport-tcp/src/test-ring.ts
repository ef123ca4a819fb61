/** Test support: data servers on loopback and one TcpTransport per rank. */
import type { Transport } from '@permafrost/collective';
import type { TestRing } from '@permafrost/collective/testing';
import { type DataServer, startDataServer } from './data-server';

export interface TcpTestRing extends TestRing {
  servers: DataServer[];
  addresses: string[];
}

/** n data servers and a transport per rank; `generations[r]` overrides rank r's generation. */
export async function ring(n: number, generations: bigint[] = []): Promise<TcpTestRing> {
  const servers = await Promise.all(Array.from({ length: n }, () => startDataServer({ listen: '127.0.0.1:0' })));
  const addresses = servers.map((s) => s.address);
  const workerIds = servers.map((_, r) => `worker-${r}`);
  const transports: Transport[] = servers.map((s, r) => s.transport(r, n, addresses, workerIds, generations[r] ?? 1n));
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

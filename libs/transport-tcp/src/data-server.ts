/**
 * A worker's data server: its ring neighbours connect here and stream allreduce chunks over raw
 * TCP (protocol.ts), one connection per sending rank, kept for the whole membership. It mirrors
 * the gRPC PeerServer: transport() builds the Transport of one membership (retiring the previous
 * one, whose collectives fail at once), and connections are checked against the current one.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { IncomingConnection } from './incoming-connection';
import { splitAddress } from './outgoing-connection';
import { TcpTransport, type TcpTransportOptions } from './tcp-transport';

/** how long a closing server waits for its neighbours to hang up before cutting them */
const CLOSE_GRACE_MS = 2000;

export interface DataServer {
  /** the address actually bound, HOST:PORT */
  address: string;
  /**
   * The transport of one membership: this worker is `rank` of `size`, rank i's data server is at
   * `dataAddresses[i]` and rank i is worker `workerIds[i]` (checked on every connection).
   * Creating one retires the previous one.
   */
  transport(rank: number, size: number, dataAddresses: string[], workerIds: string[], generation: bigint): TcpTransport;
  close(): Promise<void>;
}

function listen(server: Server, address: string): Promise<string> {
  const { host, port } = splitAddress(address);
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      const a = server.address();
      if (!a || typeof a === 'string') return fail(new Error(`the data server did not bind ${address}`));
      done(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    });
  });
}

/** Serves the data plane on `opts.listen` ('HOST:PORT', port 0 for any free port). */
export async function startDataServer(opts: { listen: string } & TcpTransportOptions): Promise<DataServer> {
  let current: TcpTransport | undefined;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new IncomingConnection(
      socket,
      () => current,
      () => undefined,
    );
  });
  const address = await listen(server, opts.listen);
  return {
    address,
    transport(rank, size, dataAddresses, workerIds, generation) {
      if (!Number.isInteger(size) || size < 1 || !Number.isInteger(rank) || rank < 0 || rank >= size) {
        throw new RangeError(`rank ${rank} of ${size} is not a rank of the ring`);
      }
      if (dataAddresses.length !== size) throw new RangeError(`${dataAddresses.length} data addresses for a ring of ${size}`);
      if (workerIds.length !== size) throw new RangeError(`${workerIds.length} worker ids for a ring of ${size}`);
      current?.retire(`generation ${current.generation} was replaced by generation ${generation}`, true);
      current = new TcpTransport(rank, size, dataAddresses, workerIds, generation, opts);
      return current;
    },
    async close() {
      // Not a refusal: a neighbour may still be inside the last collective (waiting on its own
      // left neighbour) with its chunks to this rank all sent, and a REFUSE would fail it. Its
      // connection ends when it closes in turn; a new collective on it is refused (the
      // transport is retired); whoever does not hang up is cut after a grace period.
      current?.retire('the data server closed', false);
      current = undefined;
      const closed = new Promise<void>((done) => server.close(() => done()));
      const grace = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
  };
}

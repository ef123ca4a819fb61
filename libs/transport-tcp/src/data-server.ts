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
  const connections = new Set<IncomingConnection>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    connections.add(
      new IncomingConnection(
        socket,
        () => current,
        (c) => connections.delete(c),
      ),
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
      current?.retire('the data server closed', false);
      current = undefined;
      for (const c of connections) c.close('the data server closed');
      const closed = new Promise<void>((done) => server.close(() => done()));
      // refused senders hang up at once; whoever does not is cut after a moment
      const grace = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 200);
      await closed;
      clearTimeout(grace);
    },
  };
}

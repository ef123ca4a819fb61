/**
 * A worker's data server: the ring neighbours that receive from this worker connect here and
 * take its allreduce chunks over raw TCP (protocol.ts), one connection per receiving rank, kept
 * for the whole membership. It mirrors the gRPC PeerServer: transport() builds the Transport of
 * one membership (retiring the previous one, whose collectives fail at once), and connections are
 * checked against the current one: under TLS, the certificate a connection presented must carry
 * the name the coordinator announced for the worker its HELLO claims to be, and any claim that
 * does not hold gets one generic refusal that changes nothing here. A receiver whose HELLO names
 * a generation this worker has not reached yet waits, unanswered, until it does (or the
 * receiver's connect timeout ends the wait): the members of a new generation do not all learn of
 * it at the same moment.
 *
 * Strangers are bounded (connection-guard.ts): a connection must send its HELLO within
 * `handshakeTimeoutMs`, a parked HELLO waits at most the connect timeout, at most
 * `maxPendingConnections` wait at once, and close() destroys them at once; admitted neighbours
 * get CLOSE_GRACE_MS to hang up. Under TLS a second guard holds the TCP connections still in their
 * TLS handshake to the same deadline and cap.
 */
import type { Server, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TlsFiles } from '@permafrost/security';
import { log } from '@permafrost/telemetry';
import { ConnectionGuard, type ConnectionGuardOptions } from './connection-guard';
import { FrameReader } from './frame-reader';
import { encodeReject, type Hello, Kind } from './protocol';
import { splitAddress } from './receive-connection';
import { certificateNameOf, createDataServer, dataTlsOf, reloadOnChange } from './secure-socket';
import { LINGER_MS, type SendConnection } from './send-connection';
import { TcpTransport, type TcpTransportOptions } from './tcp-transport';

/**
 * How long a closing server waits for admitted neighbours to hang up before cutting them. At the
 * end of a job every collective is over (the coordinator sends Finish only after every rank's
 * last result), so neighbours hang up at once; the grace matters only on failure paths, and keeps
 * a process's exit within 2 s of the job's end.
 */
const CLOSE_GRACE_MS = 1000;
/** default: how long a parked HELLO waits for its generation (the receiver's own connect timeout) */
const PARK_TIMEOUT_MS = 10_000;

interface ServerState {
  current: TcpTransport | undefined;
  closed: boolean;
  guard: ConnectionGuard;
  parkTimeoutMs: number;
}

export interface DataServer {
  /** the address actually bound, HOST:PORT */
  address: string;
  /**
   * The transport of one membership: this worker is `rank` of `size`, rank i's data server is at
   * `dataAddresses[i]` and rank i is worker `workerIds[i]`, under TLS holding the worker
   * certificate named `identities[i]` (both checked on every connection, both ways). Creating one
   * retires the previous one.
   */
  transport(
    rank: number,
    size: number,
    dataAddresses: string[],
    workerIds: string[],
    generation: bigint,
    identities?: string[],
  ): TcpTransport;
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

/** What the log says of a HELLO: who it claims to be, for which membership, and (under TLS) the certificate it presented. */
function described(socket: Socket, h: Hello): Record<string, unknown> {
  const serial = 'getPeerCertificate' in socket ? (socket as TLSSocket).getPeerCertificate().serialNumber : undefined;
  const name = certificateNameOf(socket);
  return {
    generation: Number(h.generation),
    rank: h.to,
    worker: h.workerId,
    ...(serial ? { certificateSerial: serial, certificateName: name } : {}),
  };
}

/**
 * The HELLO `h` on `socket` against transport `t`: undefined to admit, else the refusal, which
 * changes nothing on this rank. The worker of the rank it claims, in an older generation, is
 * behind, not gone (its old transport dials again while its Regroup is on its way; a dead one the
 * coordinator counts lost): the sends waiting for it keep waiting for its HELLO of this
 * generation, up to their deadline. A stranger's claim is logged, with what it claimed and the
 * certificate it presented.
 */
function judged(t: TcpTransport, h: Hello, socket: Socket, certificateName: string | undefined): string | undefined {
  const refusal = t.admit(h, certificateName);
  if (refusal !== undefined && !t.authentic(h, certificateName)) {
    log().warn('data connection refused', { ...described(socket, h), reason: refusal });
  }
  return refusal;
}

/**
 * A receiver's connection: its HELLO is checked against the current membership, answered with
 * REJECT (naming why) or handed to the transport as the connection carrying this rank's data to
 * it. `parked` holds the retries of HELLOs of a generation not reached yet.
 */
class Handshake {
  private hello: Hello | undefined;
  private conn: SendConnection | undefined;
  private done = false;
  /** parked once already: the wait is bounded from the first time */
  private waited = false;
  private readonly reader: FrameReader;

  constructor(
    private readonly socket: Socket,
    private readonly server: ServerState,
    private readonly parked: Set<() => void>,
    /** the verified certificate's name, under TLS (createDataServer hands over only verified workers) */
    private readonly certificateName: string | undefined,
  ) {
    this.reader = this.frameReader();
    socket.on('data', (d: Buffer) => this.data(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.done = true;
      parked.delete(this.admit);
    });
  }

  private frameReader(): FrameReader {
    return new FrameReader({
      hello: (h) => {
        if (this.reader.frames !== 1) throw new Error('a second HELLO');
        this.hello = h;
        this.admit();
      },
      stop: (kind, sequence, reason) => {
        if (kind !== Kind.refuse || !this.conn) throw new Error(`an unexpected ${kind === Kind.abort ? 'ABORT' : 'REFUSE'}`);
        this.conn.refused(sequence, reason);
      },
      mapped: (why) => {
        if (!this.conn) throw new Error('MAPPED before the ACCEPT');
        this.conn.mapped(why);
      },
      credit: (position) => {
        if (!this.conn) throw new Error('CREDIT before the ACCEPT');
        this.conn.credit(position);
      },
    });
  }

  private data(d: Buffer): void {
    try {
      this.reader.push(d);
    } catch (e) {
      const why = (e as Error).message;
      if (this.conn) this.conn.broke(why);
      else this.reject(`rank ${this.hello?.to ?? '?'} broke the protocol: ${why}`);
    }
  }

  private reject(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.server.guard.admit(this.socket);
    this.reader.stop();
    this.socket.end(encodeReject(reason));
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  /** Judges the HELLO against the current membership; parks it while that membership is older. */
  private readonly admit = (): void => {
    this.parked.delete(this.admit);
    const t = this.server.current;
    const h = this.hello as Hello;
    if (this.done) return;
    if (this.server.closed) {
      this.reject('the data server closed');
      return;
    }
    if (!t || h.generation > t.generation) {
      // a membership this worker has not reached yet
      if (!this.waited) this.server.guard.wait(this.socket, this.server.parkTimeoutMs);
      this.waited = true;
      this.parked.add(this.admit);
      return;
    }
    const refusal = judged(t, h, this.socket, this.certificateName);
    if (refusal !== undefined) {
      this.reject(refusal);
      return;
    }
    this.done = true;
    this.server.guard.admit(this.socket);
    this.conn = t.admitted(h.to, this.socket);
    log().info('data connection admitted', described(this.socket, h));
  };
}

function handshake(socket: Socket, server: ServerState, parked: Set<() => void>): void {
  socket.setNoDelay(true);
  server.guard.accept(socket);
  new Handshake(socket, server, parked, certificateNameOf(socket));
}

/** where a data server listens, its TLS files, its guard against strangers and its transports' options */
export type DataServerOptions = { listen: string; tls?: TlsFiles } & Omit<TcpTransportOptions, 'tls'> & ConnectionGuardOptions;

/**
 * Serves the data plane on `opts.listen` ('HOST:PORT', port 0 for any free port); with
 * `opts.tls`, mutual TLS under the job CA for every connection, both ways. Raw connections still
 * in their TLS handshake are cut at once on close(), as are those without a HELLO.
 */
export async function startDataServer(opts: DataServerOptions): Promise<DataServer> {
  // the material the dialing side presents: the files as the last reload found them
  const transportOptions: TcpTransportOptions = { ...opts, tls: dataTlsOf(opts.tls) };
  const guard = new ConnectionGuard('the data server', opts);
  const state: ServerState = { current: undefined, closed: false, guard, parkTimeoutMs: opts.connectTimeoutMs ?? PARK_TIMEOUT_MS };
  const parked = new Set<() => void>();
  // TCP connections still in their TLS handshake: the same deadline and cap as a missing HELLO
  const tlsHandshakes = new ConnectionGuard('the data server (TLS handshake)', opts);
  const server = createDataServer(transportOptions.tls, (socket) => handshake(socket, state, parked), tlsHandshakes);
  const address = await listen(server, opts.listen);
  const stopWatching = reloadOnChange(server, opts.tls, undefined, (tls) => {
    transportOptions.tls = tls;
  });
  return {
    address,
    transport(rank, size, dataAddresses, workerIds, generation, identities = []) {
      if (!Number.isInteger(size) || size < 1 || !Number.isInteger(rank) || rank < 0 || rank >= size) {
        throw new RangeError(`rank ${rank} of ${size} is not a rank of the ring`);
      }
      if (dataAddresses.length !== size) throw new RangeError(`${dataAddresses.length} data addresses for a ring of ${size}`);
      if (workerIds.length !== size) throw new RangeError(`${workerIds.length} worker ids for a ring of ${size}`);
      const previous = state.current;
      previous?.retire(`generation ${previous.generation} was replaced by generation ${generation}`, true);
      const track = (s: Socket) => guard.track(s);
      const t = new TcpTransport(rank, size, dataAddresses, workerIds, generation, transportOptions, track, identities);
      state.current = t;
      for (const retry of [...parked]) retry();
      return t;
    },
    async close() {
      // Not a refusal: a neighbour may still be inside the last collective (waiting on its own
      // left neighbour) with its chunks from this rank all received, and a REFUSE would fail it.
      // The connections this rank receives on end when their senders close in turn; a new
      // collective on them is refused (the transport is retired); whoever does not hang up is
      // cut after a grace period. Connections still without a HELLO carry nothing: cut at once.
      stopWatching();
      state.current?.retire('the data server closed', false);
      state.current = undefined;
      state.closed = true;
      for (const retry of [...parked]) retry();
      guard.destroyPending();
      tlsHandshakes.destroyPending();
      const closed = new Promise<void>((done) => server.close(() => done()));
      const grace = setTimeout(() => {
        guard.destroyAll();
        tlsHandshakes.destroyAll();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
  };
}

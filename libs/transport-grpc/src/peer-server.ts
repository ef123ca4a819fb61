/**
 * A worker's PeerService server: its left ring neighbour keeps one Exchange stream open to it
 * per membership generation and sends every collective's chunks on it, in order.
 *
 * A stream is admitted by its first chunk and every chunk is checked before it is queued. Under
 * TLS the stream's claim comes first: the worker certificate its connection presented must carry
 * the name the coordinator announced for the worker of its from_rank in the current membership;
 * any claim that does not hold is refused with PERMISSION_DENIED and one text that names no
 * worker or rank (the details go to this worker's log), and changes nothing here. Then its
 * generation must be the generation of the membership this worker takes part in (a worker of an
 * older or newer membership is refused with FAILED_PRECONDITION, naming both generations), its
 * from_rank another rank of the ring and the same on the whole stream, and its collective the
 * current one or a later one. The first chunk of a collective opens that collective's mailbox
 * (refused if the collective is doomed or over here, see peer-transport.ts) and ends the previous
 * one's. A refused stream ends with an error status, which fails the sender's collective. The
 * receiver answers with the chunk count once the sender half-closes; a stream that breaks
 * instead fails the receiver's pending and later receives of its collective at once.
 */
import { create } from '@bufbuild/protobuf';
import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import type { Inbox, Transport } from '@permafrost/collective';
import { type ExchangeRequest, type ExchangeResponse, ExchangeResponseSchema } from '@permafrost/proto';
import type { TlsFiles } from '@permafrost/security';
import { log, PermafrostError } from '@permafrost/telemetry';
import type { ConnectionGuardOptions } from '@permafrost/transport-tcp';
import { authorize } from './call-guard';
import { decodeChunk } from './chunk-codec';
import { bindServer, newServer } from './grpc-setup';
import { NOT_ADMITTED, PeerTransport } from './peer-transport';
import { peerService } from './services';
import { toServiceError } from './status';
import { channelCredentials, serverCredentials } from './tls-credentials';

export interface PeerServer {
  /** the address actually bound, HOST:PORT */
  address: string;
  /**
   * The transport of one membership: this worker is `rank` of `size`, rank i serves at
   * `peerAddresses[i]`, under TLS holding the worker certificate named `identities[i]` (checked
   * on every stream, both ways). Creating one retires the previous one (its collectives fail at
   * once).
   */
  transport(rank: number, size: number, peerAddresses: string[], generation: bigint, identities?: string[]): Transport;
  close(): Promise<void>;
}

function checkGeneration(t: PeerTransport, req: ExchangeRequest): void {
  const generation = req.membership?.generation;
  if (generation !== t.generation) {
    throw new PermafrostError(
      'failed-precondition',
      `rank ${req.fromRank} sends for generation ${generation ?? 'none'} but rank ${t.rank} is in generation ${t.generation}`,
    );
  }
}

/**
 * The transport a stream's first chunk `req` may feed, or a PermafrostError refusing the stream:
 * under TLS its connection presented the worker certificate named `certificateName`.
 */
function admitting(t: PeerTransport | undefined, req: ExchangeRequest, certificateName: string | undefined): PeerTransport {
  const generation = req.membership?.generation;
  if (!t) {
    throw new PermafrostError(
      'failed-precondition',
      `this worker has no membership yet (the stream is of generation ${generation ?? 'none'})`,
    );
  }
  if (!t.authentic(req.fromRank, certificateName)) {
    log().warn('data stream refused', {
      generation: generation === undefined ? null : Number(generation),
      fromRank: req.fromRank,
      rank: t.rank,
      certificateName,
      reason: `the certificate is not the one announced for rank ${req.fromRank} of generation ${t.generation}`,
    });
    throw new PermafrostError('permission-denied', NOT_ADMITTED);
  }
  checkGeneration(t, req);
  return t;
}

type ExchangeCall = ServerReadableStream<ExchangeRequest, ExchangeResponse>;

/**
 * One Exchange stream on the receiving side: admitted on its first chunk (certificate, generation),
 * then each chunk goes to the mailbox of its collective until the sender half-closes (answered
 * with the chunk count), the stream breaks, or a refusal ends it.
 */
class ExchangeStream {
  /** the transport that admitted this stream, even if a newer one took over since */
  private transport: PeerTransport | undefined;
  private from = -1;
  /** the mailbox of the collective the stream carries now */
  private inbox: Inbox | undefined;
  private chunks = 0;
  private over = false;
  private forget: () => void = () => undefined;

  constructor(
    private readonly current: () => PeerTransport | undefined,
    call: ExchangeCall,
    private readonly respond: sendUnaryData<ExchangeResponse>,
    private readonly certificateName: string | undefined,
  ) {
    call.on('data', (req: ExchangeRequest) => this.data(req));
    // A dropped connection ends the request stream too, with 'cancelled' right behind; one turn
    // of the event loop tells a sender's half-close from its death.
    call.on('end', () =>
      setImmediate(() => {
        if (this.over || call.cancelled) return;
        this.finish();
        respond(null, create(ExchangeResponseSchema, { chunks: this.chunks }));
      }),
    );
    call.on('cancelled', () => this.broke('the sender cancelled it or its connection dropped'));
    call.on('error', (e: Error) => this.broke(e.message));
  }

  private data(req: ExchangeRequest): void {
    if (this.over) return;
    try {
      const t = this.admitted(req);
      const sequence = Number(req.sequence);
      if (sequence !== this.inbox?.sequence) this.next(t, sequence);
      (this.inbox as Inbox).push(decodeChunk(req));
      this.chunks++;
    } catch (e) {
      this.refuse(e instanceof PermafrostError ? e : new PermafrostError('invalid-argument', e instanceof Error ? e.message : String(e)));
    }
  }

  /** The stream's transport: admits the stream on its first chunk, checks every later one. */
  private admitted(req: ExchangeRequest): PeerTransport {
    if (!this.transport) {
      const t = admitting(this.current(), req, this.certificateName);
      this.transport = t;
      this.from = req.fromRank;
      this.forget = t.adopt((reason) => this.refuse(new PermafrostError('failed-precondition', reason)));
      return t;
    }
    checkGeneration(this.transport, req);
    if (req.fromRank !== this.from) {
      throw new PermafrostError(
        'invalid-argument',
        `a stream comes from one rank: it began with rank ${this.from}, then sent from rank ${req.fromRank}`,
      );
    }
    return this.transport;
  }

  private next(t: PeerTransport, sequence: number): void {
    if (this.inbox && sequence < this.inbox.sequence) {
      throw new PermafrostError(
        'invalid-argument',
        `collective ${sequence} from rank ${this.from} came after collective ${this.inbox.sequence}`,
      );
    }
    this.inbox?.end();
    const box = t.incoming(this.from, sequence);
    // a mailbox the stream has left behind may be discarded later without stopping the stream
    box.attach((reason) => {
      if (this.inbox === box) this.refuse(new PermafrostError('aborted', reason));
    });
    this.inbox = box;
  }

  private finish(error?: Error): void {
    this.over = true;
    this.forget();
    this.inbox?.end(error);
  }

  private refuse(e: PermafrostError): void {
    if (this.over) return;
    this.finish(e);
    this.respond(toServiceError(e));
  }

  private broke(why: string): void {
    if (!this.over) this.finish(new Error(why));
  }
}

function exchange(current: () => PeerTransport | undefined) {
  return (call: ExchangeCall, respond: sendUnaryData<ExchangeResponse>, certificateName: string | undefined) => {
    new ExchangeStream(current, call, respond, certificateName);
  };
}

/**
 * Serves PeerService on `opts.listen` ('HOST:PORT', port 0 for any free port); with `opts.tls`,
 * mutual TLS under the job CA, only worker certificates may call Exchange, and a stream is
 * admitted only from the certificate announced for the rank it sends from.
 */
export async function startPeerServer(opts: { listen: string; tls?: TlsFiles } & ConnectionGuardOptions): Promise<PeerServer> {
  let current: PeerTransport | undefined;
  const server = newServer();
  const security = opts.tls ? { tls: opts.tls } : {};
  const handler = exchange(() => current);
  server.addService(peerService, {
    exchange: (call: ExchangeCall, respond: sendUnaryData<ExchangeResponse>) => {
      let certificateName: string | undefined;
      try {
        certificateName = authorize('worker', 'Exchange', call, security).identity?.name;
      } catch (e) {
        respond(toServiceError(e));
        return;
      }
      handler(call, respond, certificateName);
    },
  });
  const bound = await bindServer(server, opts.listen, opts, await serverCredentials(opts.tls && { files: opts.tls }));
  // under TLS this rank's channel to rank `to` accepts only the certificate announced for it
  const creds = (identities: readonly string[]) => (to: number) =>
    channelCredentials(opts.tls && { files: opts.tls, serverRole: 'worker', checkHost: false, serverName: identities[to] ?? '' });
  return {
    address: bound.address,
    transport(rank, size, peerAddresses, generation, identities = []) {
      if (!Number.isInteger(size) || size < 1 || !Number.isInteger(rank) || rank < 0 || rank >= size) {
        throw new RangeError(`rank ${rank} of ${size} is not a rank of the ring`);
      }
      if (peerAddresses.length !== size) throw new RangeError(`${peerAddresses.length} peer addresses for a ring of ${size}`);
      current?.retire(`generation ${current.generation} was replaced by generation ${generation}`, true);
      current = new PeerTransport(rank, size, peerAddresses, generation, creds(identities), opts.tls && identities);
      return current;
    },
    async close() {
      current?.retire('the peer server closed', false);
      current = undefined;
      await bound.close();
    },
  };
}

/**
 * The collective Transport over PeerService.Exchange, for one membership generation.
 *
 * Sending: one long-lived Exchange call per receiving rank (outgoing-stream.ts) carries every
 * collective to it, one after another. A chunk is encoded when the call has room for it (so its
 * values are read then, see SendChannel), and a collective's flush() waits until grpc-js has
 * handed its messages to HTTP/2 (so the receiver's flow control paces a fast sender), at most
 * until the collective's deadline. A call that fails takes the
 * collective in flight with it (see doom); the next collective opens a new call.
 * Receiving: the PeerServer feeds each incoming chunk to this transport's Inbox for (sending
 * rank, sequence); recv takes from it in arrival order. A stream that moves on to the next
 * collective ends the previous one's mailbox, so a receive past its end fails at once. The
 * rules (collectives in order, late chunks refused, a collective that failed here doomed and
 * the streams feeding it refused) are Mailboxes' (@permafrost/collective).
 *
 * Under TLS each rank is a certificate name as well (the coordinator's PeerInfo.identity): a
 * stream's chunks from rank r are admitted only from the certificate announced for rank r's
 * worker (authentic), and this rank's channel to rank r accepts only a server presenting that
 * certificate (the credentials it is given per rank). A rank with no announced name matches no
 * certificate.
 */
import { type ChannelCredentials, Client } from '@grpc/grpc-js';
import {
  byDeadline,
  type Chunk,
  CollectiveError,
  type Inbox,
  Mailboxes,
  MailboxRefused,
  type RefusalKind,
  type SendChannel,
  type Transport,
  type TransportStats,
} from '@permafrost/collective';
import { type ErrorCode, PermafrostError } from '@permafrost/telemetry';
import { ChunkEncoder } from './chunk-codec';
import { insecure, PEER_CHANNEL_OPTIONS } from './grpc-setup';
import { OutgoingStream } from './outgoing-stream';

/** the status a refused stream ends with */
const REFUSAL_CODES: Record<RefusalKind, ErrorCode> = {
  retired: 'failed-precondition',
  'not-a-peer': 'invalid-argument',
  doomed: 'aborted',
  over: 'failed-precondition',
  taken: 'already-exists',
};

/**
 * The one refusal of a stream whose certificate is not the one announced for the rank it sends
 * from: it names no rank or worker, the same for every mismatch.
 */
export const NOT_ADMITTED = 'not admitted: the claim of this stream does not hold';

export class PeerTransport implements Transport {
  readonly stats: TransportStats = { sharedChunks: 0, wireChunks: 0 };
  private readonly clients = new Map<number, Client>();
  private readonly outgoing = new Map<number, OutgoingStream>();
  /** cancels of the incoming streams this transport admitted */
  private readonly feeds = new Set<(reason: string) => void>();
  private readonly boxes: Mailboxes;

  constructor(
    readonly rank: number,
    readonly size: number,
    private readonly addresses: readonly string[],
    readonly generation: bigint,
    /** the credentials of this rank's channel to rank `to` */
    private readonly credentials: (to: number) => ChannelCredentials = () => insecure(),
    /** under TLS, the name on rank i's worker certificate; undefined over plaintext */
    private readonly identities?: readonly string[],
  ) {
    this.boxes = new Mailboxes(rank, size, `generation ${generation}`);
  }

  openSend(to: number, sequence: number, timeoutMs: number): SendChannel {
    const what = `collective ${sequence} to rank ${to}`;
    const retired = this.boxes.retired;
    const stream = retired ? undefined : this.stream(to, sequence);
    if (!stream) {
      const e = new CollectiveError(`cannot send ${what}: ${retired ?? `no rank ${to} in a ring of ${this.size}`}`);
      return { write: () => undefined, flush: () => Promise.reject(e), abort: () => undefined };
    }
    stream.sequence = sequence;
    stream.busy = true;
    const deadline = Date.now() + timeoutMs;
    const encoder = new ChunkEncoder(this.rank, this.generation);
    let aborted: Error | undefined;
    return {
      write: (c: Chunk) => {
        if (aborted) return;
        this.stats.wireChunks++;
        stream.write((alloc) => encoder.encode(c, alloc));
      },
      flush: async () => {
        if (aborted) throw aborted;
        await this.drained(stream, deadline, `sending ${what} timed out after ${timeoutMs} ms`);
        stream.busy = false;
      },
      // The collective failed here: the next rank learns it from the cancelled stream, the
      // previous one from its refused stream (see doom).
      abort: (reason: Error) => {
        if (aborted) return;
        aborted = new CollectiveError(`sending ${what} aborted: ${reason.message}`);
        stream.cancel(aborted);
        this.doom(sequence, `rank ${this.rank} failed: ${reason.message}`);
      },
    };
  }

  recv(from: number, sequence: number, timeoutMs: number): Promise<Chunk> {
    return this.boxes.recv(from, sequence, timeoutMs);
  }

  /**
   * Whether a stream sending from rank `from` comes from that rank's worker: under TLS its
   * connection presented the certificate named `certificateName`, which must be the one announced
   * for `from`. Over plaintext nobody is authenticated and every claim holds.
   */
  authentic(from: number, certificateName: string | undefined): boolean {
    if (this.identities === undefined) return true;
    const expected = this.boxes.isPeer(from) ? (this.identities[from] ?? '') : '';
    return expected !== '' && certificateName === expected;
  }

  /**
   * An incoming stream was admitted; `cancel` refuses it. Returns what to call once the stream
   * is over.
   */
  adopt(cancel: (reason: string) => void): () => void {
    this.feeds.add(cancel);
    return () => {
      this.feeds.delete(cancel);
    };
  }

  /**
   * The mailbox an incoming stream feeds next. Throws PermafrostError when the stream must be refused:
   * this transport is retired, the collective is doomed or over here, or another stream already
   * feeds it.
   */
  incoming(from: number, sequence: number): Inbox {
    try {
      return this.boxes.incoming(from, sequence);
    } catch (e) {
      if (e instanceof MailboxRefused) throw new PermafrostError(REFUSAL_CODES[e.kind], e.message);
      throw e;
    }
  }

  /**
   * Fails everything in flight and closes the channels. A new membership also cancels the
   * streams in both directions (their collectives cannot complete); a closing server ends its
   * outgoing streams normally and lets incoming ones finish, since a sender's half-close may
   * trail its last chunk (its server's close cuts them after a grace period anyway).
   */
  retire(reason: string, cancelStreams: boolean): void {
    this.boxes.retire(reason, cancelStreams);
    if (cancelStreams) for (const cancel of [...this.feeds]) cancel(reason);
    for (const s of this.outgoing.values()) {
      if (cancelStreams) s.cancel(new CollectiveError(reason));
      else s.end();
    }
    this.outgoing.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** Collective `sequence` cannot complete here; the streams feeding it are refused (Mailboxes.doom). */
  private doom(sequence: number, reason: string): void {
    this.boxes.doom(sequence, reason);
  }

  /** Waits until `stream` has handed everything to HTTP/2, cancelling it at `deadline`. */
  private drained(stream: OutgoingStream, deadline: number, timedOut: string): Promise<void> {
    const done = stream.drained();
    if (stream.idle) return done;
    return byDeadline(done, deadline, () => {
      const e = new CollectiveError(timedOut);
      stream.cancel(e);
      this.doom(stream.sequence, e.message);
      return e;
    });
  }

  /** The open call to rank `to`, or a new one when there is none or it has moved past `sequence`. */
  private stream(to: number, sequence: number): OutgoingStream | undefined {
    const current = this.outgoing.get(to);
    if (current?.open && current.sequence <= sequence) return current;
    current?.end();
    const client = this.client(to);
    if (!client) return undefined;
    const s = new OutgoingStream(client, (failed, why) => {
      if (this.outgoing.get(to) === failed) this.outgoing.delete(to);
      const message = `sending collective ${failed.sequence} to rank ${to} at ${this.addresses[to]} failed (${why.code}): ${why.message}`;
      // a failure between collectives costs nothing: the next collective opens a new call
      if (failed.busy) this.doom(failed.sequence, message);
      return new CollectiveError(message);
    });
    this.outgoing.set(to, s);
    return s;
  }

  // One channel per peer for the transport's lifetime: its HTTP/2 connection (and TCP window)
  // stays warm from one collective to the next.
  private client(to: number): Client | undefined {
    const address = this.addresses[to];
    if (!this.boxes.isPeer(to) || !address) return undefined;
    let c = this.clients.get(to);
    if (!c) {
      c = new Client(address, this.credentials(to), PEER_CHANNEL_OPTIONS);
      this.clients.set(to, c);
    }
    return c;
  }
}

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
 * collective ends the previous one's mailbox, so a receive past its end fails at once.
 *
 * Collectives run one after another, so a receive for collective s from rank r means every
 * earlier collective with r is over: their mailboxes are dropped, and a chunk of an earlier
 * collective that turns up late is refused. A collective that failed here (a send failed, timed
 * out or was aborted) is doomed: the streams feeding it are refused, so the failure travels
 * around the ring.
 */
import { Client } from '@grpc/grpc-js';
import { type Chunk, CollectiveError, type SendChannel, type Transport } from '@permafrost/collective';
import { ChunkEncoder } from './chunk-codec';
import { insecure, PEER_CHANNEL_OPTIONS } from './grpc-setup';
import { Inbox } from './inbox';
import { OutgoingStream } from './outgoing-stream';
import { RpcError } from './types';

export class PeerTransport implements Transport {
  private readonly clients = new Map<number, Client>();
  private readonly outgoing = new Map<number, OutgoingStream>();
  private readonly inboxes = new Map<string, Inbox>();
  /** cancels of the incoming streams this transport admitted */
  private readonly feeds = new Set<(reason: string) => void>();
  /** per sending rank, the highest collective a receive has asked for */
  private readonly reached = new Map<number, number>();
  /** collectives that cannot complete here any more, and why */
  private readonly doomed = new Map<number, string>();
  private retired: string | undefined;

  constructor(
    readonly rank: number,
    readonly size: number,
    private readonly addresses: readonly string[],
    readonly generation: bigint,
  ) {}

  openSend(to: number, sequence: number, timeoutMs: number): SendChannel {
    const what = `collective ${sequence} to rank ${to}`;
    const stream = this.retired ? undefined : this.stream(to, sequence);
    if (!stream) {
      const e = new CollectiveError(`cannot send ${what}: ${this.retired ?? `no rank ${to} in a ring of ${this.size}`}`);
      return { write: () => undefined, flush: () => Promise.reject(e), abort: () => undefined };
    }
    stream.sequence = sequence;
    stream.busy = true;
    const deadline = Date.now() + timeoutMs;
    const encoder = new ChunkEncoder(this.rank, this.generation);
    let aborted: Error | undefined;
    return {
      write: (c: Chunk) => {
        if (!aborted) stream.write((alloc) => encoder.encode(c, alloc));
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
    if (this.retired) return Promise.reject(new CollectiveError(`cannot receive collective ${sequence}: ${this.retired}`));
    if (!this.isPeer(from)) return Promise.reject(new CollectiveError(`no rank ${from} to receive from in a ring of ${this.size}`));
    const doomed = this.doomed.get(sequence);
    if (doomed) return Promise.reject(new CollectiveError(`collective ${sequence} cannot complete: ${doomed}`));
    this.forgetBefore(from, sequence);
    const box = this.inbox(from, sequence);
    const ready = box.poll();
    if (ready) return Promise.resolve(ready);
    // A mailbox no stream feeds after its receive timed out is dead weight. Consumed ones stay,
    // empty, until the next collective from that rank: a receive past the end fails at once.
    return box.take(timeoutMs).catch((e: unknown) => {
      if (!box.attached && !box.exhausted) this.inboxes.delete(key(from, sequence));
      throw e;
    });
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
   * The mailbox an incoming stream feeds next. Throws RpcError when the stream must be refused:
   * this transport is retired, the collective is doomed or over here, or another stream already
   * feeds it.
   */
  incoming(from: number, sequence: number): Inbox {
    if (this.retired)
      throw new RpcError('failed-precondition', `rank ${this.rank} no longer takes part in generation ${this.generation}: ${this.retired}`);
    if (!this.isPeer(from))
      throw new RpcError('invalid-argument', `from_rank ${from} is not another rank of a ring of ${this.size} (this is rank ${this.rank})`);
    const doomed = this.doomed.get(sequence);
    if (doomed) throw new RpcError('aborted', `rank ${this.rank} gave up collective ${sequence}: ${doomed}`);
    const reached = this.reached.get(from) ?? 0;
    if (sequence < reached) {
      throw new RpcError(
        'failed-precondition',
        `rank ${this.rank} has moved on to collective ${reached}; collective ${sequence} from rank ${from} is abandoned`,
      );
    }
    const box = this.inbox(from, sequence);
    if (box.attached) throw new RpcError('already-exists', `rank ${from} already streams collective ${sequence} to rank ${this.rank}`);
    return box;
  }

  /**
   * Fails everything in flight and closes the channels. A new membership also cancels the
   * streams in both directions (their collectives cannot complete); a closing server ends its
   * outgoing streams normally and lets incoming ones finish, since a sender's half-close may
   * trail its last chunk (its server's close cuts them after a grace period anyway).
   */
  retire(reason: string, cancelStreams: boolean): void {
    this.retired ??= reason;
    for (const box of this.inboxes.values()) {
      if (cancelStreams) box.discard(reason);
      else box.release(reason);
    }
    this.inboxes.clear();
    if (cancelStreams) for (const cancel of [...this.feeds]) cancel(reason);
    for (const s of this.outgoing.values()) {
      if (cancelStreams) s.cancel(new CollectiveError(reason));
      else s.end();
    }
    this.outgoing.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /**
   * Collective `sequence` cannot complete here: pending and later receives of it fail now,
   * and the streams feeding it are refused, which tells the ranks before this one in the ring,
   * hop by hop, instead of every rank sitting out its timeout.
   */
  private doom(sequence: number, reason: string): void {
    if (this.doomed.has(sequence)) return;
    this.doomed.set(sequence, reason);
    for (const s of this.doomed.keys()) if (s < sequence - 16) this.doomed.delete(s);
    for (const box of this.inboxes.values())
      if (box.sequence === sequence) box.discard(`collective ${sequence} cannot complete: ${reason}`);
  }

  /** Waits until `stream` has handed everything to HTTP/2, cancelling it at `deadline`. */
  private drained(stream: OutgoingStream, deadline: number, timedOut: string): Promise<void> {
    const done = stream.drained();
    if (stream.idle) return done;
    return new Promise<void>((ok, fail) => {
      const timer = setTimeout(
        () => {
          const e = new CollectiveError(timedOut);
          stream.cancel(e);
          this.doom(stream.sequence, e.message);
          fail(e);
        },
        Math.max(0, deadline - Date.now()),
      );
      done.then(
        () => {
          clearTimeout(timer);
          ok();
        },
        (e: unknown) => {
          clearTimeout(timer);
          fail(e);
        },
      );
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

  private isPeer(r: number): boolean {
    return Number.isInteger(r) && r >= 0 && r < this.size && r !== this.rank;
  }

  private inbox(from: number, sequence: number): Inbox {
    const k = key(from, sequence);
    let box = this.inboxes.get(k);
    if (!box) {
      box = new Inbox(from, sequence);
      this.inboxes.set(k, box);
    }
    return box;
  }

  private forgetBefore(from: number, sequence: number): void {
    if ((this.reached.get(from) ?? 0) >= sequence) return;
    this.reached.set(from, sequence);
    for (const [k, box] of this.inboxes) {
      if (box.from === from && box.sequence < sequence) {
        box.release(`rank ${this.rank} has moved on to collective ${sequence}`);
        this.inboxes.delete(k);
      }
    }
  }

  // One channel per peer for the transport's lifetime: its HTTP/2 connection (and TCP window)
  // stays warm from one collective to the next.
  private client(to: number): Client | undefined {
    const address = this.addresses[to];
    if (!this.isPeer(to) || !address) return undefined;
    let c = this.clients.get(to);
    if (!c) {
      c = new Client(address, insecure(), PEER_CHANNEL_OPTIONS);
      this.clients.set(to, c);
    }
    return c;
  }
}

const key = (from: number, sequence: number) => `${from}/${sequence}`;

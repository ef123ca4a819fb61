/**
 * The collective Transport over PeerService.Exchange, for one membership generation.
 *
 * Sending: openSend opens one client-streaming Exchange call per collective to the receiving
 * rank, with the collective's deadline; every chunk is one ExchangeRequest, a write resolves
 * once grpc-js has handed the message to HTTP/2 (so HTTP/2 flow control paces a fast sender),
 * and close() resolves on the receiver's ExchangeResponse, sent once it holds every chunk.
 * Receiving: the PeerServer routes each incoming stream to this transport's Inbox for (sending
 * rank, sequence); recv takes from it in arrival order.
 *
 * Collectives run one after another, so a receive for collective s from rank r means every
 * earlier collective with r is over: their mailboxes are dropped (a stream still feeding one
 * may finish: its sender's half-close can trail the last chunk), and a stream for an earlier
 * collective that turns up late is refused. A collective that failed here (a send failed or was
 * aborted) is doomed: its streams are refused, so the failure travels around the ring.
 */
import { Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import { type Chunk, CollectiveError, type SendChannel, type Transport } from '@permafrost/collective';
import type { ExchangeResponse } from '@permafrost/proto';
import { encodeChunk } from './chunk-codec';
import { CHANNEL_OPTIONS, insecure } from './grpc-setup';
import { Inbox } from './inbox';
import { peerService } from './services';
import { fromServiceError } from './status';
import { RpcError } from './types';

export class PeerTransport implements Transport {
  private readonly clients = new Map<number, Client>();
  private readonly inboxes = new Map<string, Inbox>();
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
    const client = this.retired ? undefined : this.client(to);
    if (!client) {
      const e = new CollectiveError(`cannot send ${what}: ${this.retired ?? `no rank ${to} in a ring of ${this.size}`}`);
      return { write: () => quietly(Promise.reject(e)), close: () => Promise.reject(e), abort: () => undefined };
    }
    let failure: Error | undefined;
    const waiting = new Set<(e: Error) => void>();
    const failAll = (e: Error) => {
      failure ??= e;
      for (const fail of waiting) fail(failure);
      waiting.clear();
    };
    let settle: (err: ServiceError | null, res?: ExchangeResponse) => void = () => undefined;
    const acknowledged = quietly(
      new Promise<ExchangeResponse | undefined>((done, fail) => {
        settle = (err, res) => {
          if (!err) return done(res);
          const rpc = fromServiceError(err);
          const local = failure !== undefined;
          failAll(new CollectiveError(`sending ${what} at ${this.addresses[to]} failed (${rpc.code}): ${rpc.message}`));
          if (!local) this.doom(sequence, failure?.message ?? rpc.message);
          fail(failure);
        };
      }),
    );
    const m = peerService.exchange;
    const stream = client.makeClientStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, res) => settle(err, res),
    );
    return {
      write: (c: Chunk) =>
        quietly(
          new Promise<void>((ok, fail) => {
            if (failure) return fail(failure);
            waiting.add(fail);
            stream.write(encodeChunk(c, this.rank, this.generation), () => {
              waiting.delete(fail);
              if (failure) fail(failure);
              else ok();
            });
          }),
        ),
      close: async () => {
        if (!failure) stream.end();
        await acknowledged;
      },
      // The collective failed here: the next rank learns it from the cancelled stream, the
      // previous one from its refused stream (see doom).
      abort: (reason: Error) => {
        failAll(new CollectiveError(`sending ${what} aborted: ${reason.message}`));
        stream.cancel();
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
    // A mailbox no stream feeds after its receive timed out is dead weight. Consumed ones stay,
    // empty, until the next collective from that rank: a receive past the end fails at once.
    return box.take(timeoutMs).finally(() => {
      if (!box.attached && !box.exhausted) this.inboxes.delete(key(from, sequence));
    });
  }

  /**
   * The mailbox an incoming stream feeds. Throws RpcError when the stream must be refused:
   * its collective is over here, or another stream already feeds it.
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
   * streams still coming in (their collectives cannot complete); a closing server lets them
   * finish, since a sender's half-close may trail its last chunk (its server's close cuts them
   * after a grace period anyway).
   */
  retire(reason: string, cancelStreams: boolean): void {
    this.retired ??= reason;
    for (const box of this.inboxes.values()) {
      if (cancelStreams) box.discard(reason);
      else box.release(reason);
    }
    this.inboxes.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /**
   * A chunk of collective `sequence` did not reach the next rank, so the collective cannot
   * complete: pending and later receives of it fail now, and the streams feeding it are
   * refused, which tells the ranks before this one in the ring, hop by hop, instead of every
   * rank sitting out its timeout.
   */
  private doom(sequence: number, reason: string): void {
    if (this.doomed.has(sequence)) return;
    this.doomed.set(sequence, reason);
    for (const s of this.doomed.keys()) if (s < sequence - 16) this.doomed.delete(s);
    for (const box of this.inboxes.values())
      if (box.sequence === sequence) box.discard(`collective ${sequence} cannot complete: ${reason}`);
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
      c = new Client(address, insecure(), CHANNEL_OPTIONS);
      this.clients.set(to, c);
    }
    return c;
  }
}

const key = (from: number, sequence: number) => `${from}/${sequence}`;

/**
 * Marks a promise as handled without changing what awaiting it yields. Ring allreduce collects
 * write promises and awaits them only at the end; one that rejects earlier must not count as an
 * unhandled rejection (which would end the process).
 */
function quietly<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

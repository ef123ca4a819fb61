/**
 * One long-lived PeerService.Exchange call from this rank to a ring neighbour, within one
 * membership generation. Collective after collective travels on it: no call setup per
 * collective, and HTTP/2 flow control keeps the window it has grown.
 *
 * Writes do not wait: a message joins a queue as a function that encodes it, and is encoded when
 * less than IN_FLIGHT_BYTES wait in grpc-js, which hands them to HTTP/2 in order as the
 * receiver's flow-control window allows; drained() resolves once the queue is empty and grpc-js
 * has written everything. Encoding late keeps the memory a collective needs small whatever its
 * size, and lets the messages be encoded into a few buffers that return to a pool once written:
 * grpc-js copies every message into a frame of its own before it confirms the write, and a fresh
 * buffer per message would add a large allocation, with its garbage collection, to every chunk. The call fails as a whole (the
 * receiver refused a chunk, the connection dropped, this rank cancelled it): whatever waits on it
 * fails at once, the owner hears why (onFailure) and opens a new call for the next collective.
 * end() half-closes it; the receiver then answers with its chunk count and the call is over.
 */
import { type Client, type ClientWritableStream, Metadata, type ServiceError } from '@grpc/grpc-js';
import { CollectiveError } from '@permafrost/collective';
import type { PermafrostError } from '@permafrost/telemetry';
import { peerService } from './services';
import { fromServiceError } from './status';

interface Waiter {
  ok(): void;
  fail(e: Error): void;
}

/** The messages are encoded before they are written (chunk-codec.ts). */
const preEncoded = (b: Buffer) => b;
/**
 * Bytes encoded and handed to grpc-js but not yet written, at most (and always one message).
 * More only sits in queues: a buffer that waits there long enough to outlive two young-generation
 * collections is promoted, and every promoted MiB brings the next full collection closer.
 */
const IN_FLIGHT_BYTES = 2 * 1024 * 1024;
/** buffers the pool keeps */
const POOL_BUFFERS = 4;

/** Encodes one message into a buffer of `alloc`'s. */
export type Encode = (alloc: (bytes: number) => Buffer) => Buffer;

export class OutgoingStream {
  private readonly call: ClientWritableStream<Buffer>;
  /** messages not yet encoded */
  private readonly pending: Encode[] = [];
  private next = 0;
  /** messages handed to grpc-js, not yet written, and their bytes */
  private inFlight = 0;
  private inFlightBytes = 0;
  private waiters: Waiter[] = [];
  /** storage of written messages, ready for the next ones */
  private readonly pool: ArrayBuffer[] = [];
  private failure: Error | undefined;
  private ended = false;
  /** the newest collective written on this call */
  sequence = 0;
  /** a collective is using the call and has not flushed yet */
  busy = false;

  constructor(
    client: Client,
    /** the call failed for a reason other than cancel(); returns the error waiters get */
    private readonly onFailure: (stream: OutgoingStream, why: PermafrostError) => Error,
  ) {
    const m = peerService.exchange;
    this.call = client.makeClientStreamRequest(m.path, preEncoded, m.responseDeserialize, new Metadata(), {}, (err) => this.settle(err));
  }

  /** why the call failed, once it has */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** open, with nothing waiting to be handed to HTTP/2 */
  get idle(): boolean {
    return this.inFlight === 0 && this.next === this.pending.length && this.failure === undefined;
  }

  /** usable for another collective */
  get open(): boolean {
    return this.failure === undefined && !this.ended;
  }

  /** Queues a message; `encode` runs when its turn comes (the caller keeps its inputs intact until drained). */
  write(encode: Encode): void {
    if (this.ended && !this.failure) this.fail(new CollectiveError('the stream was closed before this chunk'));
    if (!this.open) return;
    this.pending.push(encode);
    this.pump();
  }

  private pump(): void {
    while ((this.inFlight === 0 || this.inFlightBytes < IN_FLIGHT_BYTES) && this.next < this.pending.length && this.open) {
      const encode = this.pending[this.next] as Encode;
      this.next++;
      let message: Buffer;
      try {
        message = encode((bytes) => this.take(bytes));
      } catch (e) {
        this.cancel(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.inFlight++;
      this.inFlightBytes += message.byteLength;
      this.call.write(message, () => {
        if (this.pool.length < POOL_BUFFERS) this.pool.push(message.buffer as ArrayBuffer);
        this.inFlight--;
        this.inFlightBytes -= message.byteLength;
        this.pump();
        if (this.idle) this.release();
      });
    }
    if (this.next === this.pending.length) {
      this.pending.length = 0;
      this.next = 0;
    }
  }

  /** A buffer of `bytes`, from the pool when it has one large enough. */
  private take(bytes: number): Buffer {
    let storage = this.pool.pop();
    // allocUnsafeSlow: storage of its own, not zero-filled first
    if (!storage || storage.byteLength < bytes) storage = Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
    return Buffer.from(storage, 0, bytes);
  }

  /** Resolves when every message written so far has been handed to HTTP/2; rejects if the call fails first. */
  drained(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.idle) return Promise.resolve();
    return new Promise((ok, fail) => this.waiters.push({ ok, fail }));
  }

  /** Fails the call with `reason`: the receiver sees it cancelled, waiters here get `reason`. */
  cancel(reason: Error): void {
    if (this.failure) return;
    this.fail(reason);
    this.call.cancel();
  }

  /** Half-closes the call: the receiver has everything there will be. */
  end(): void {
    if (!this.open) return;
    this.ended = true;
    // what grpc-js holds is still written before the half-close; what is not encoded yet never is
    if (this.next < this.pending.length) this.fail(new CollectiveError('the stream was closed with chunks unsent'));
    this.call.end();
  }

  private release(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.ok();
  }

  private settle(err: ServiceError | null): void {
    if (!err) {
      // the receiver answered our half-close: every message arrived
      this.ended = true;
      this.release();
      return;
    }
    if (this.failure) return;
    this.fail(this.onFailure(this, fromServiceError(err)));
  }

  private fail(e: Error): void {
    this.failure = e;
    this.pending.length = 0;
    this.next = 0;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.fail(e);
  }
}

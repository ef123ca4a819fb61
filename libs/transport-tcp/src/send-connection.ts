/**
 * The sending side of one data connection, from this rank to a ring neighbour, within one
 * membership generation: the receiver dialed this worker's data server (so that it can read into
 * one reused buffer), the data server checked its HELLO and handed the socket here; collective
 * after collective goes out on it (Nagle off), so the connection and its TCP window stay warm.
 *
 * A collective may start sending before the receiver has connected: its chunks wait here (the
 * caller keeps their arrays until flush) and go out once the connection is there, and a receiver
 * that does not connect within the connect timeout fails the connection. A chunk is written as
 * two buffers handed to the socket together (one writev): its head, cut from a shared slab, and a
 * view over the caller's Float32Array, so its values are copied once, by the kernel. drained()
 * resolves once the receiver is connected and every write so far has been handed to the kernel,
 * so a slow receiver paces the sender through TCP's flow control. The connection fails as a whole
 * (the receiver refused a collective, the socket closed or broke, no receiver in time): whatever
 * waits on it fails at once and the owner hears why; the receiver dials again for the next
 * collective.
 */
import type { Socket } from 'node:net';
import { type Chunk, CollectiveError } from '@permafrost/collective';
import { CHUNK_HEAD_BYTES, encodeAccept, encodeStop, Kind, payloadBytes, writeChunkHead } from './protocol';

const SLAB_BYTES = 64 * 1024;
/** how long an aborted connection may take to deliver its ABORT before it is cut */
export const LINGER_MS = 1000;

interface Waiter {
  ok(): void;
  fail(e: Error): void;
}

export class SendConnection {
  private socket: Socket | undefined;
  private failure: Error | undefined;
  /** chunks written before the receiver connected */
  private queued: Chunk[] = [];
  /** writes handed to the socket whose callbacks have not fired */
  private pending = 0;
  private waiters: Waiter[] = [];
  private connectTimer: NodeJS.Timeout | undefined;
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private slabAt = 0;
  private signature = '';
  private signatureBytes = Buffer.alloc(0);
  /** the newest collective written on this connection */
  sequence = 0;
  /** a collective is using the connection and has not flushed yet */
  busy = false;

  constructor(
    readonly to: number,
    readonly address: string,
    /** the connection failed; `refused`: the collective the receiver refused, if it did */
    private readonly onFailure: (c: SendConnection, error: Error, refused: number | undefined) => void,
  ) {}

  /** usable for another collective */
  get open(): boolean {
    return this.failure === undefined;
  }

  get connected(): boolean {
    return this.socket !== undefined;
  }

  private get what(): string {
    return `rank ${this.to} at ${this.address}`;
  }

  /** A collective waits on this connection: the receiver must connect within `timeoutMs`. */
  expect(timeoutMs: number): void {
    if (this.socket || this.connectTimer || this.failure) return;
    this.connectTimer = setTimeout(
      () =>
        this.fail(new CollectiveError(`no data connection from ${this.what} within ${timeoutMs} ms: it did not ask for this rank's data`)),
      timeoutMs,
    );
  }

  /** The receiver's connection, its HELLO admitted: answers ACCEPT and sends what waited. False if this one is used up. */
  attach(socket: Socket): boolean {
    if (this.failure || this.socket) return false;
    clearTimeout(this.connectTimer);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', (e) => this.fail(new CollectiveError(`sending to ${this.what} failed: ${e.message}`)));
    socket.on('close', () => this.fail(new CollectiveError(`${this.what} closed the data connection`)));
    socket.write(encodeAccept());
    for (const c of this.queued.splice(0)) this.write(c);
    this.settle();
    return true;
  }

  /** The receiver refused collective `sequence` (REFUSE) and closes the connection. */
  refused(sequence: number, reason: string): void {
    this.fail(new CollectiveError(`${this.what} refused collective ${sequence}: ${reason}`), sequence);
  }

  /** The receiver sent something this side cannot read. */
  broke(why: string): void {
    this.fail(new CollectiveError(`${this.what} broke the protocol: ${why}`));
  }

  /** The connection cannot come: the receiver was turned away, or cannot be reached. */
  failWith(e: Error): void {
    this.fail(e);
  }

  write(c: Chunk): void {
    if (this.failure) return;
    if (!this.socket) {
      this.queued.push(c);
      return;
    }
    let head: Buffer;
    try {
      if (c.signature !== this.signature) {
        this.signature = c.signature;
        this.signatureBytes = Buffer.from(c.signature, 'utf8');
      }
      const bytes = CHUNK_HEAD_BYTES + this.signatureBytes.length;
      if (this.slabAt + bytes > this.slab.length) {
        this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, bytes));
        this.slabAt = 0;
      }
      head = this.slab.subarray(this.slabAt, this.slabAt + bytes);
      writeChunkHead(head, 0, c, this.signatureBytes);
      this.slabAt += bytes;
    } catch (e) {
      this.fail(new CollectiveError(`cannot send a chunk of collective ${c.sequence}: ${(e as Error).message}`));
      return;
    }
    this.socket.cork();
    this.send(this.socket, head);
    if (c.data.length > 0) this.send(this.socket, payloadBytes(c.data));
    this.socket.uncork();
  }

  /** Resolves once the receiver is connected and everything written is with the kernel. */
  drained(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.socket && this.pending === 0) return Promise.resolve();
    return new Promise((ok, fail) => this.waiters.push({ ok, fail }));
  }

  /** Gives up collective `sequence`: the receiver learns why from an ABORT, then the connection closes. */
  abort(sequence: number, reason: Error): void {
    if (this.failure) return;
    this.failure = reason;
    this.release(reason);
    this.hangUp(encodeStop(Kind.abort, sequence, reason.message));
  }

  /** Cuts the connection now: the receiver sees it break. */
  cancel(reason: Error): void {
    if (this.failure) return;
    this.failure = reason;
    this.close(reason);
  }

  /** Ends the connection after what is written: the receiver sees a normal end. */
  end(): void {
    if (this.failure) return;
    this.failure = new CollectiveError(`the data connection to rank ${this.to} was closed`);
    this.release(this.failure);
    this.hangUp();
  }

  private hangUp(last?: Buffer): void {
    clearTimeout(this.connectTimer);
    this.queued = [];
    const socket = this.socket;
    if (!socket) return;
    if (last) socket.end(last);
    else socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  private send(socket: Socket, b: Buffer): void {
    this.pending++;
    socket.write(b, (e) => {
      this.pending--;
      if (e) this.fail(new CollectiveError(`sending to ${this.what} failed: ${e.message}`));
      else this.settle();
    });
  }

  private settle(): void {
    if (this.socket && this.pending === 0 && !this.failure) this.release();
  }

  private fail(e: Error, refused?: number): void {
    if (this.failure) return;
    this.failure = e;
    this.close(e);
    this.onFailure(this, e, refused);
  }

  private close(e: Error): void {
    clearTimeout(this.connectTimer);
    this.queued = [];
    this.socket?.destroy();
    this.release(e);
  }

  private release(error?: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      if (error) w.fail(error);
      else w.ok();
    }
  }
}

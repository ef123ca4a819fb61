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
 *
 * On one host the values skip the socket: the ACCEPT offers a shared segment (shared-segment.ts),
 * and once the receiver has MAPPED it, a chunk is copied into a free region there and only its
 * head is written. A chunk that finds no free region waits for the receiver's CREDITs, and
 * later chunks wait behind it; drained() waits for them too.
 */
import type { Socket } from 'node:net';
import { type Chunk, CollectiveError, type TransportStats } from '@permafrost/collective';
import { encodeAccept, encodeStop, Kind, payloadBytes, SHM_CHUNK_HEAD_BYTES, writeChunkHead } from './protocol';
import { OutgoingSegment } from './shared-segment';

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
  /** the segment offered to the receiver, whether it has answered the offer, and whether it mapped it */
  private segment: OutgoingSegment | undefined;
  private answered = true;
  private shared = false;
  /** chunks waiting for room in the segment, and the chunks written after them */
  private waiting: Chunk[] = [];

  constructor(
    readonly to: number,
    readonly address: string,
    /** the connection failed; `refused`: the collective the receiver refused, if it did */
    private readonly onFailure: (c: SendConnection, error: Error, refused: number | undefined) => void,
    /** the shared segment to offer a receiver on this host, 0 for none */
    private readonly sharedMemoryBytes = 0,
    /** counts the chunks sent each way */
    private readonly stats: TransportStats = { sharedChunks: 0, wireChunks: 0 },
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
    this.segment = OutgoingSegment.create(this.sharedMemoryBytes);
    this.answered = this.segment === undefined;
    socket.write(encodeAccept(this.segment?.offer()));
    this.sendQueued();
    return true;
  }

  private sendQueued(): void {
    if (!this.answered) return;
    for (const c of this.queued.splice(0)) this.write(c);
    this.settle();
  }

  /** The receiver refused collective `sequence` (REFUSE) and closes the connection. */
  refused(sequence: number, reason: string): void {
    this.fail(new CollectiveError(`${this.what} refused collective ${sequence}: ${reason}`), sequence);
  }

  /** The receiver's answer to the segment's offer (`why` not, or undefined: it mapped it); held chunks go now. */
  mapped(why: string | undefined): void {
    if (!this.segment || this.answered) {
      this.broke('MAPPED, but no shared segment was offered');
      return;
    }
    this.answered = true;
    this.shared = why === undefined;
    if (!this.shared) this.segment.close();
    this.sendQueued();
  }

  /** The receiver is done with the region at `position`: chunks waiting for room go now. */
  credit(position: number): void {
    if (this.failure) return;
    if (!this.segment?.ring.give(position)) {
      this.broke(`a CREDIT for position ${position}, where no chunk is outstanding`);
      return;
    }
    while (this.socket && this.waiting.length > 0 && this.put(this.socket, this.waiting[0] as Chunk)) this.waiting.shift();
    this.settle();
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
    if (!this.socket || !this.answered) this.queued.push(c);
    else if (this.waiting.length > 0 || !this.put(this.socket, c)) this.waiting.push(c);
  }

  /** Sends `c`, through the segment when it can; false if it must wait for room there. */
  private put(socket: Socket, c: Chunk): boolean {
    const segment = this.shared ? this.segment : undefined;
    const viaSegment = segment !== undefined && c.data.length > 0 && c.data.byteLength <= segment.ring.capBytes;
    const position = viaSegment ? segment.ring.take(c.data.byteLength) : undefined;
    if (viaSegment && position === undefined) return false;
    const head = this.head(c, position);
    if (!head) return true;
    if (segment && position !== undefined) {
      segment.put(position, c.data);
      this.stats.sharedChunks++;
      this.send(socket, head);
      return true;
    }
    this.stats.wireChunks++;
    socket.cork();
    this.send(socket, head);
    if (c.data.length > 0) this.send(socket, payloadBytes(c.data));
    socket.uncork();
    return true;
  }

  /** The head of `c` (a SHM_CHUNK's when `position` is set), cut from the slab; undefined after failing the connection. */
  private head(c: Chunk, position: number | undefined): Buffer | undefined {
    try {
      if (c.signature !== this.signature) {
        this.signature = c.signature;
        this.signatureBytes = Buffer.from(c.signature, 'utf8');
      }
      const bytes = SHM_CHUNK_HEAD_BYTES + this.signatureBytes.length;
      if (this.slabAt + bytes > this.slab.length) {
        this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, bytes));
        this.slabAt = 0;
      }
      const written = writeChunkHead(this.slab, this.slabAt, c, this.signatureBytes, position);
      const head = this.slab.subarray(this.slabAt, this.slabAt + written);
      this.slabAt += written;
      return head;
    } catch (e) {
      this.fail(new CollectiveError(`cannot send a chunk of collective ${c.sequence}: ${(e as Error).message}`));
      return undefined;
    }
  }

  /** connected, and everything written is with the kernel */
  private get idle(): boolean {
    return this.socket !== undefined && this.answered && this.pending === 0 && this.waiting.length === 0;
  }

  /** Resolves once the receiver is connected and everything written is with the kernel. */
  drained(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.idle) return Promise.resolve();
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
    this.waiting = [];
    this.segment?.close();
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
    if (this.idle && !this.failure) this.release();
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
    this.waiting = [];
    this.segment?.close();
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

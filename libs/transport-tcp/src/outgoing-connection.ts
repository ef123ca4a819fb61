/**
 * The sending side of one data connection, from this rank to a ring neighbour, within one
 * membership generation: collective after collective on the same socket (Nagle off), so the
 * connection and its TCP window stay warm.
 *
 * A chunk is written as two buffers handed to the socket together (one writev): its head, cut
 * from a shared slab, and a view over the caller's Float32Array, so its values are copied once,
 * by the kernel. drained() resolves once the receiver has accepted the handshake and every write
 * so far has been handed to the kernel, so a slow receiver paces the sender through TCP's flow
 * control. The connection fails as a whole (the receiver rejected it or refused a collective, the
 * socket closed or broke, no answer to the handshake in time): whatever waits on it fails at once
 * and the owner hears why; the next collective opens a new connection.
 */
import { connect, type Socket } from 'node:net';
import { type Chunk, CollectiveError } from '@permafrost/collective';
import { FrameReader } from './frame-reader';
import { CHUNK_HEAD_BYTES, encodeHello, encodeStop, type Hello, Kind, payloadBytes, writeChunkHead } from './protocol';

const SLAB_BYTES = 64 * 1024;
/** how long an aborted connection may take to deliver its ABORT before it is cut */
const LINGER_MS = 1000;

interface Waiter {
  ok(): void;
  fail(e: Error): void;
}

/** 'HOST:PORT' or '[IPV6]:PORT' */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!m) throw new CollectiveError(`'${address}' is not a HOST:PORT data address`);
  return { host: m[1] as string, port: Number(m[2]) };
}

export class OutgoingConnection {
  private readonly socket: Socket;
  private readonly reader: FrameReader;
  private accepted = false;
  private failure: Error | undefined;
  /** writes handed to the socket whose callbacks have not fired */
  private pending = 0;
  private waiters: Waiter[] = [];
  private readonly connectTimer: NodeJS.Timeout;
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
    hello: Hello,
    connectTimeoutMs: number,
    /** the connection failed; `refused`: the collective the receiver refused, if it did */
    private readonly onFailure: (c: OutgoingConnection, error: Error, refused: number | undefined) => void,
  ) {
    const { host, port } = splitAddress(address);
    this.socket = connect({ host, port, noDelay: true });
    this.socket.write(encodeHello(hello));
    const what = `rank ${to} at ${address}`;
    this.connectTimer = setTimeout(
      () => this.fail(new CollectiveError(`connecting to ${what}: no answer to the handshake within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    this.reader = new FrameReader({
      accept: () => {
        this.accepted = true;
        clearTimeout(this.connectTimer);
        this.settle();
      },
      reject: (reason) => this.fail(new CollectiveError(`${what} refused the data connection from rank ${hello.from}: ${reason}`)),
      stop: (_kind, sequence, reason) => this.fail(new CollectiveError(`${what} refused collective ${sequence}: ${reason}`), sequence),
    });
    this.socket.on('data', (d: Buffer) => {
      try {
        this.reader.push(d);
      } catch (e) {
        this.fail(new CollectiveError(`${what} broke the protocol: ${(e as Error).message}`));
      }
    });
    this.socket.on('error', (e) => this.fail(new CollectiveError(`sending to ${what} failed: ${e.message}`)));
    this.socket.on('close', () => this.fail(new CollectiveError(`${what} closed the data connection`)));
  }

  /** usable for another collective */
  get open(): boolean {
    return this.failure === undefined;
  }

  write(c: Chunk): void {
    if (this.failure) return;
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
    this.send(head);
    if (c.data.length > 0) this.send(payloadBytes(c.data));
    this.socket.uncork();
  }

  /** Resolves once the handshake is accepted and everything written is with the kernel. */
  drained(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.accepted && this.pending === 0) return Promise.resolve();
    return new Promise((ok, fail) => this.waiters.push({ ok, fail }));
  }

  /** Gives up collective `sequence`: the receiver learns why from an ABORT, then the connection closes. */
  abort(sequence: number, reason: Error): void {
    if (this.failure) return;
    this.failure = reason;
    this.release(reason);
    clearTimeout(this.connectTimer);
    this.socket.end(encodeStop(Kind.abort, sequence, reason.message));
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
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
    clearTimeout(this.connectTimer);
    this.release(this.failure);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private send(b: Buffer): void {
    this.pending++;
    this.socket.write(b, (e) => {
      this.pending--;
      if (e) this.fail(new CollectiveError(`sending to rank ${this.to} at ${this.address} failed: ${e.message}`));
      else this.settle();
    });
  }

  private settle(): void {
    if (this.accepted && this.pending === 0 && !this.failure) this.release();
  }

  private fail(e: Error, refused?: number): void {
    if (this.failure) return;
    this.failure = e;
    this.close(e);
    this.onFailure(this, e, refused);
  }

  private close(e: Error): void {
    clearTimeout(this.connectTimer);
    this.reader.stop();
    this.socket.destroy();
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

/**
 * The receiving side of one data connection: this rank dials the data server of the ring
 * neighbour it receives from, introduces itself (HELLO) and, once accepted, takes collective
 * after collective from it.
 *
 * The socket reads into one buffer the whole process shares (Node's `onread`), instead of a new
 * Buffer per read: FrameReader copies whatever it keeps out of each read before the callback
 * returns, and reads are delivered one at a time on the main thread, so nothing else can be
 * written into the buffer meanwhile.
 *
 * Once accepted, each chunk goes to the mailbox of its collective; the first chunk of a
 * collective opens that mailbox (refused if the collective is doomed or over here) and ends the
 * previous one's. A refusal is a REFUSE frame back to the sender, then the connection closes. A
 * sender's ABORT, or the connection breaking, fails the receives of the collective in flight at
 * once; a normal end (the sender closed after its last chunk) ends it without an error.
 *
 * When the ACCEPT offers a shared segment and this process can map it (same host), the receiver
 * answers MAPPED; the sender's SHM_CHUNKs then arrive as views of that segment, and each one's
 * release() (called by the collective once it has added or stored the values) sends its CREDIT.
 */
import { isIP, type Socket } from 'node:net';
import { type Chunk, CollectiveError, type Inbox, MailboxRefused } from '@permafrost/collective';
import { FrameReader } from './frame-reader';
import { encodeCredit, encodeHello, encodeMapped, encodeStop, type Hello, Kind } from './protocol';
import { type DialTls, dialData } from './secure-socket';
import { LINGER_MS } from './send-connection';
import { IncomingSegment } from './shared-segment';

const READ_BUFFER_BYTES = 256 * 1024;
let shared: Buffer | undefined;
/** the one buffer every receiving socket of this process reads into */
function readBuffer(): Buffer {
  shared ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
  return shared;
}

/** 'HOST:PORT' or '[IPV6]:PORT' */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!m) throw new CollectiveError(`'${address}' is not a HOST:PORT data address`);
  return { host: m[1] as string, port: Number(m[2]) };
}

/** What a receiving connection needs of its transport. */
export interface ReceiveOwner {
  /** The mailbox the connection feeds next; throws MailboxRefused when it must be refused. */
  incoming(from: number, sequence: number): Inbox;
  /**
   * The connection is over. `error`: why, undefined for the sender's normal end. `redial`: it was
   * this side's refusal or the sender's abort, and the next collective needs a new connection.
   * `unreachable`: it never connected (nothing listens at the address).
   */
  over(c: ReceiveConnection, error: Error | undefined, redial: boolean, unreachable: boolean): void;
}

export class ReceiveConnection {
  private readonly socket: Socket;
  private readonly reader: FrameReader;
  private accepted = false;
  private connected = false;
  /** the mailbox of the collective the connection carries now */
  private inbox: Inbox | undefined;
  private done = false;
  /** closed before the sender accepted: the REFUSE to send once it does */
  private leaving: { sequence: number; reason: string } | undefined;
  private readonly connectTimer: NodeJS.Timeout;
  /** the host name has an address (an IP address needs no lookup) */
  private resolved: boolean;
  private readonly dialedAt = performance.now();

  constructor(
    private readonly owner: ReceiveOwner,
    readonly from: number,
    readonly address: string,
    hello: Hello,
    connectTimeoutMs: number,
    track: (s: Socket) => void,
    /** map a shared segment the sender offers */
    shareMemory = true,
    /** mutual TLS under the job CA, the sender's certificate of the name given; plaintext without */
    tls?: DialTls,
  ) {
    const what = `rank ${from} at ${address}`;
    const { host, port } = splitAddress(address);
    this.resolved = isIP(host) !== 0;
    this.reader = new FrameReader({
      accept: (offer) => {
        this.accepted = true;
        clearTimeout(this.connectTimer);
        if (offer && !this.leaving) {
          const mapped = shareMemory ? IncomingSegment.map(offer) : 'shared memory is off here';
          if (typeof mapped === 'string') this.socket.write(encodeMapped(mapped));
          else {
            this.reader.segment = mapped;
            this.socket.write(encodeMapped());
          }
        }
        // closed while the handshake was on: the sender hears why now, and stops waiting for it
        if (this.leaving) this.hangUp(encodeStop(Kind.refuse, this.leaving.sequence, this.leaving.reason));
      },
      reject: (reason) => this.finish(new CollectiveError(`${what} refused the data connection from rank ${hello.to}: ${reason}`)),
      chunk: (c, position) => {
        if (position !== undefined) c.release = this.credit(position);
        this.chunk(c);
      },
      stop: (kind, sequence, reason) => {
        if (kind !== Kind.abort) throw new Error('a REFUSE from the sender');
        this.aborted(sequence, reason);
      },
    });
    this.socket = dialData(tls, { host, port }, readBuffer, (data, n) => {
      try {
        this.reader.push(data, n);
      } catch (e) {
        const why = `rank ${from} broke the protocol: ${(e as Error).message}`;
        if (this.accepted) this.refuse(this.inbox?.sequence ?? 0, why);
        else this.finish(new CollectiveError(why));
      }
    });
    track(this.socket);
    this.socket.write(encodeHello(hello));
    this.connectTimer = setTimeout(() => this.finish(new CollectiveError(`connecting to ${what}: ${this.opening}`)), connectTimeoutMs);
    this.follow(what);
  }

  /** How the dialed socket gets on: resolved, connected, ended by the sender, failed or closed. */
  private follow(what: string): void {
    this.socket.on('lookup', () => {
      this.resolved = true;
    });
    this.socket.on('connect', () => {
      this.connected = true;
    });
    // the sender's normal end: everything it sent has arrived
    this.socket.on('end', () => this.finish());
    this.socket.on('error', (e) =>
      this.finish(new CollectiveError(`${this.connected ? 'receiving from' : 'connecting to'} ${what} failed: ${e.message}`)),
    );
    this.socket.on('close', () => this.finish(new CollectiveError(`the data connection from ${what} closed`)));
  }

  /**
   * Where opening the connection stands while the sender has not accepted it (a name that DNS does
   * not answer for, a TCP connect nobody answers, a HELLO unanswered); undefined once it has.
   */
  get opening(): string | undefined {
    if (this.accepted || this.done) return undefined;
    const ms = Math.round(performance.now() - this.dialedAt);
    if (!this.resolved) return `the name ${splitAddress(this.address).host} has not resolved: no answer from DNS for ${ms} ms`;
    if (!this.connected) return `no answer to the TCP connect for ${ms} ms`;
    return `no answer to the handshake for ${ms} ms`;
  }

  /** usable for another collective (or still being opened) */
  get open(): boolean {
    return !this.done;
  }

  /** Refuses what the connection carries and closes it (a new membership, a protocol error). */
  close(sequence: number, reason: string): void {
    if (this.accepted || this.done) this.refuse(sequence, reason);
    else {
      this.leaving = { sequence, reason };
      this.finish(new CollectiveError(reason), true);
      const socket = this.socket;
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    }
  }

  /** the collective the connection carries now, 0 before the first */
  get sequence(): number {
    return this.inbox?.sequence ?? 0;
  }

  /** release() of the shared chunk at `position`: its CREDIT, once */
  private credit(position: number): () => void {
    let sent = false;
    return () => {
      if (sent || this.done) return;
      sent = true;
      this.socket.write(encodeCredit(position));
    };
  }

  private chunk(c: Chunk): void {
    if (!this.accepted) throw new Error('a chunk before the ACCEPT');
    if (this.done) return;
    let box = this.inbox;
    if (c.sequence !== box?.sequence) {
      if (box && c.sequence < box.sequence) throw new Error(`collective ${c.sequence} came after collective ${box.sequence}`);
      box?.end();
      box = this.mailbox(c.sequence);
      if (!box) {
        c.release?.();
        return;
      }
      const opened = box;
      // a mailbox the connection has left behind may be discarded later without stopping it
      opened.attach((reason) => {
        if (this.inbox === opened) this.refuse(opened.sequence, reason);
      });
      this.inbox = opened;
    }
    box.push(c);
  }

  /** the mailbox of collective `sequence`, or undefined once the connection is refused */
  private mailbox(sequence: number): Inbox | undefined {
    try {
      return this.owner.incoming(this.from, sequence);
    } catch (e) {
      if (!(e instanceof MailboxRefused)) throw e;
      this.refuse(sequence, e.message);
      return undefined;
    }
  }

  /** The sender gave up collective `sequence`: its receives here fail now. */
  private aborted(sequence: number, reason: string): void {
    const why = new Error(`rank ${this.from} aborted collective ${sequence}: ${reason}`);
    if (this.inbox?.sequence !== sequence && !this.done) {
      this.inbox?.end();
      this.inbox = undefined;
      try {
        this.owner.incoming(this.from, sequence).end(why);
      } catch {
        // the collective is over or doomed here anyway
      }
    }
    this.finish(why, true);
  }

  private refuse(sequence: number, reason: string): void {
    if (this.done) return;
    this.finish(new CollectiveError(reason), true);
    this.hangUp(encodeStop(Kind.refuse, sequence, reason));
  }

  private hangUp(last: Buffer): void {
    this.socket.end(last);
    const socket = this.socket;
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  private finish(error?: Error, redial = false): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.connectTimer);
    if (!this.leaving) this.reader.stop();
    this.inbox?.end(error);
    if (error && !redial) this.socket.destroy();
    this.owner.over(this, error, redial, !this.connected && !this.accepted);
  }
}

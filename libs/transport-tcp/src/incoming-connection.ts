/**
 * The receiving side of one data connection: a ring neighbour connected to this worker's data
 * server and streams collective after collective on it.
 *
 * The first frame must be the HELLO, checked against the membership this worker takes part in
 * (TcpTransport.admit): anything else is answered with REJECT, naming why, and the connection
 * closes. Once accepted, each chunk goes to the mailbox of its collective; the first chunk of a
 * collective opens that mailbox (refused if the collective is doomed or over here) and ends the
 * previous one's. A refusal is a REFUSE frame back to the sender, then the connection closes. A
 * sender's ABORT, or the connection breaking, fails the receives of the collective in flight at
 * once; a normal end (the sender closed after its last chunk) ends it without an error.
 */
import type { Socket } from 'node:net';
import { type Chunk, CollectiveError, type Inbox, MailboxRefused } from '@permafrost/collective';
import { FrameReader } from './frame-reader';
import { encodeAccept, encodeReject, encodeStop, type Hello, Kind } from './protocol';
import type { TcpTransport } from './tcp-transport';

/** how long a refused sender may take to hang up before the connection is cut */
const LINGER_MS = 1000;

export class IncomingConnection {
  private readonly reader: FrameReader;
  /** the transport that admitted this connection, even if a newer one took over since */
  private transport: TcpTransport | undefined;
  private from = -1;
  /** the mailbox of the collective the connection carries now */
  private inbox: Inbox | undefined;
  private over = false;
  private forget: () => void = () => undefined;

  constructor(
    private readonly socket: Socket,
    current: () => TcpTransport | undefined,
    onClosed: (c: IncomingConnection) => void,
  ) {
    socket.setNoDelay(true);
    this.reader = new FrameReader({
      hello: (h) => this.hello(h, current()),
      chunk: (c) => this.chunk(c),
      stop: (_kind, sequence, reason) => this.aborted(sequence, reason),
    });
    socket.on('data', (d: Buffer) => {
      try {
        this.reader.push(d);
      } catch (e) {
        const why = `rank ${this.from} broke the protocol: ${(e as Error).message}`;
        if (this.transport) this.refuse(this.inbox?.sequence ?? 0, why);
        else this.reject(why);
      }
    });
    // the sender's normal end: everything it sent has arrived
    socket.on('end', () => this.finish());
    socket.on('error', (e) => this.finish(new Error(e.message)));
    socket.on('close', () => {
      this.finish(new Error(`the connection from rank ${this.from} closed`));
      onClosed(this);
    });
  }

  /** Refuses what the connection carries and closes it (a new membership, a closing server). */
  close(reason: string): void {
    if (this.transport) this.refuse(this.inbox?.sequence ?? 0, reason);
    else this.reject(reason);
  }

  private hello(h: Hello, t: TcpTransport | undefined): void {
    if (this.reader.frames !== 1) throw new Error('a second HELLO');
    const refusal = t ? t.admit(h) : `this worker has no membership yet (the connection is of generation ${h.generation})`;
    if (refusal !== undefined || !t) {
      this.reject(refusal ?? '');
      return;
    }
    this.transport = t;
    this.from = h.from;
    this.forget = t.adopt((reason) => this.close(reason));
    this.socket.write(encodeAccept());
  }

  private chunk(c: Chunk): void {
    const t = this.transport;
    if (!t) throw new Error('a chunk before the HELLO');
    if (this.over) return;
    let box = this.inbox;
    if (c.sequence !== box?.sequence) {
      if (box && c.sequence < box.sequence) throw new Error(`collective ${c.sequence} came after collective ${box.sequence}`);
      box?.end();
      box = this.open(t, c.sequence);
      if (!box) return;
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
  private open(t: TcpTransport, sequence: number): Inbox | undefined {
    try {
      return t.incoming(this.from, sequence);
    } catch (e) {
      if (!(e instanceof MailboxRefused)) throw e;
      this.refuse(sequence, e.message);
      return undefined;
    }
  }

  /** The sender gave up collective `sequence`: its receives here fail now. */
  private aborted(sequence: number, reason: string): void {
    const why = new Error(`rank ${this.from} aborted collective ${sequence}: ${reason}`);
    if (this.inbox?.sequence !== sequence && this.transport && !this.over) {
      this.inbox?.end();
      this.inbox = undefined;
      try {
        this.transport.incoming(this.from, sequence).end(why);
      } catch {
        // the collective is over or doomed here anyway
      }
    }
    this.finish(why);
  }

  private reject(reason: string): void {
    this.hangUp(encodeReject(reason), new CollectiveError(reason));
  }

  private refuse(sequence: number, reason: string): void {
    this.hangUp(encodeStop(Kind.refuse, sequence, reason), new CollectiveError(reason));
  }

  private hangUp(frame: Buffer, error: Error): void {
    if (this.over) return;
    this.finish(error);
    this.socket.end(frame);
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private finish(error?: Error): void {
    if (this.over) return;
    this.over = true;
    this.reader.stop();
    this.forget();
    this.inbox?.end(error);
  }
}

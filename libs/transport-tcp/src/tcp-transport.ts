/**
 * The collective Transport over raw TCP (protocol.ts), for one membership generation.
 *
 * Sending: one long-lived connection per receiving rank (outgoing-connection.ts) carries every
 * collective to it, one after another; a collective's flush() waits until the receiver accepted
 * the handshake and every chunk is with the kernel, at most until the collective's deadline. A
 * connection that fails takes the collective in flight with it (doomed here); the next collective
 * opens a new one. Receiving: the data server hands each accepted connection's chunks to the
 * mailboxes (Mailboxes, @permafrost/collective), which keep the rules the gRPC transport keeps:
 * collectives in order, late chunks refused, a doomed collective's feeds refused so the failure
 * travels back around the ring at once.
 */
import { byDeadline, type Chunk, CollectiveError, type Inbox, Mailboxes, type SendChannel, type Transport } from '@permafrost/collective';
import { OutgoingConnection } from './outgoing-connection';
import type { Hello } from './protocol';

export interface TcpTransportOptions {
  /** how long a new connection may take to be accepted (default 10000 ms) */
  connectTimeoutMs?: number;
}

export class TcpTransport implements Transport {
  private readonly outgoing = new Map<number, OutgoingConnection>();
  /** closers of the incoming connections this transport admitted */
  private readonly feeds = new Set<(reason: string) => void>();
  private readonly boxes: Mailboxes;
  private readonly connectTimeoutMs: number;

  constructor(
    readonly rank: number,
    readonly size: number,
    private readonly addresses: readonly string[],
    private readonly workerIds: readonly string[],
    readonly generation: bigint,
    opts: TcpTransportOptions = {},
  ) {
    this.boxes = new Mailboxes(rank, size, `generation ${generation}`);
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  }

  openSend(to: number, sequence: number, timeoutMs: number): SendChannel {
    const what = `collective ${sequence} to rank ${to}`;
    const retired = this.boxes.retired;
    const conn = retired ? undefined : this.connection(to, sequence);
    if (!conn) {
      const e = new CollectiveError(`cannot send ${what}: ${retired ?? `no rank ${to} with a data address in a ring of ${this.size}`}`);
      return { write: () => undefined, flush: () => Promise.reject(e), abort: () => undefined };
    }
    conn.sequence = sequence;
    conn.busy = true;
    const deadline = Date.now() + timeoutMs;
    let aborted: Error | undefined;
    return {
      write: (c: Chunk) => {
        if (!aborted) conn.write(c);
      },
      flush: async () => {
        if (aborted) throw aborted;
        await this.drained(conn, deadline, `sending ${what} timed out after ${timeoutMs} ms`);
        conn.busy = false;
      },
      // The collective failed here: the next rank learns it from the ABORT, the previous one from
      // its refused connection (see Mailboxes.doom).
      abort: (reason: Error) => {
        if (aborted) return;
        aborted = new CollectiveError(`sending ${what} aborted: ${reason.message}`);
        conn.abort(sequence, aborted);
        if (this.outgoing.get(to) === conn) this.outgoing.delete(to);
        this.boxes.doom(sequence, `rank ${this.rank} failed: ${reason.message}`);
      },
    };
  }

  recv(from: number, sequence: number, timeoutMs: number): Promise<Chunk> {
    return this.boxes.recv(from, sequence, timeoutMs);
  }

  /** Checks a connection's HELLO against this membership: undefined to accept, else why not. */
  admit(h: Hello): string | undefined {
    if (h.generation !== this.generation) {
      return `generation ${h.generation} is not the current generation ${this.generation} of rank ${this.rank}`;
    }
    if (this.boxes.retired) return `rank ${this.rank} no longer takes part in generation ${this.generation}: ${this.boxes.retired}`;
    if (h.to !== this.rank) return `this is rank ${this.rank}, not rank ${h.to}`;
    if (!this.boxes.isPeer(h.from)) return `rank ${h.from} is not another rank of a ring of ${this.size} (this is rank ${this.rank})`;
    const expected = this.workerIds[h.from];
    if (h.workerId !== expected) {
      return `unknown worker '${h.workerId}': rank ${h.from} of generation ${this.generation} is worker '${expected}'`;
    }
    return undefined;
  }

  /** An incoming connection was admitted; `close` refuses it. Returns what to call once it is over. */
  adopt(close: (reason: string) => void): () => void {
    this.feeds.add(close);
    return () => {
      this.feeds.delete(close);
    };
  }

  /** The mailbox an incoming connection feeds next; throws MailboxRefused when it must be refused. */
  incoming(from: number, sequence: number): Inbox {
    return this.boxes.incoming(from, sequence);
  }

  /**
   * Fails everything in flight and closes the connections. A new membership cuts them in both
   * directions; a closing server ends its outgoing ones normally (the receivers see a clean end)
   * and lets its incoming ones end when their senders hang up, since a neighbour may still be
   * inside the last collective with everything for this rank already sent (a new collective on
   * them is refused: this transport is retired).
   */
  retire(reason: string, cancelConnections: boolean): void {
    this.boxes.retire(reason, cancelConnections);
    if (cancelConnections) for (const close of [...this.feeds]) close(reason);
    for (const c of this.outgoing.values()) {
      if (cancelConnections) c.cancel(new CollectiveError(reason));
      else c.end();
    }
    this.outgoing.clear();
  }

  /** Waits until `conn` has handed everything to the kernel, cutting it at `deadline`. */
  private drained(conn: OutgoingConnection, deadline: number, timedOut: string): Promise<void> {
    return byDeadline(conn.drained(), deadline, () => {
      const e = new CollectiveError(timedOut);
      conn.cancel(e);
      this.boxes.doom(conn.sequence, e.message);
      return e;
    });
  }

  /** The open connection to rank `to`, or a new one when there is none or it has moved past `sequence`. */
  private connection(to: number, sequence: number): OutgoingConnection | undefined {
    const current = this.outgoing.get(to);
    if (current?.open && current.sequence <= sequence) return current;
    current?.end();
    const address = this.addresses[to];
    if (!this.boxes.isPeer(to) || !address) return undefined;
    const c = new OutgoingConnection(
      to,
      address,
      { generation: this.generation, from: this.rank, to, workerId: this.workerIds[this.rank] ?? '' },
      this.connectTimeoutMs,
      (failed, error, refused) => {
        if (this.outgoing.get(to) === failed) this.outgoing.delete(to);
        // a failure between collectives costs nothing: the next collective opens a new connection
        if (failed.busy) this.boxes.doom(failed.sequence, error.message);
        if (refused !== undefined) this.boxes.doom(refused, error.message);
      },
    );
    this.outgoing.set(to, c);
    return c;
  }
}

/**
 * The collective Transport over raw TCP (protocol.ts), for one membership generation.
 *
 * Every connection carries one direction, sender to receiver, and the receiver opens it: it dials
 * the sender's data server, so that it can read into one reused buffer (receive-connection.ts),
 * which Node offers only for sockets it dials. A transport dials the rank a ring receives from
 * (its left neighbour) as soon as it is created, and any other rank at the first receive from it;
 * it dials again for the next collective once a connection was refused or aborted, and at the
 * next receive once one broke.
 *
 * Sending: one long-lived connection per receiving rank (send-connection.ts) carries every
 * collective to it, one after another; a collective that starts before the receiver has
 * connected queues its chunks until it does. flush() waits until the receiver is connected and
 * every chunk is with the kernel, at most until the collective's deadline. A connection that
 * fails takes the collective in flight with it (doomed here). Receiving: the mailboxes
 * (Mailboxes, @permafrost/collective) keep the rules the gRPC transport keeps: collectives in
 * order, late chunks refused, a doomed collective's feeds refused so the failure travels back
 * around the ring at once.
 */
import type { Socket } from 'node:net';
import {
  byDeadline,
  type Chunk,
  CollectiveError,
  type Inbox,
  Mailboxes,
  type SendChannel,
  type Transport,
  type TransportStats,
} from '@permafrost/collective';
import { EVERY, type Hello } from './protocol';
import { ReceiveConnection } from './receive-connection';
import type { DataTls } from './secure-socket';
import { SendConnection } from './send-connection';

export interface TcpTransportOptions {
  /** how long a new connection may take to be accepted, and a sender waits for its receiver to connect (default 10000 ms) */
  connectTimeoutMs?: number;
  /**
   * the shared segment each sending connection offers a receiver on the same host (default
   * 8 MiB; 0 sends every chunk's values over TCP); see shared-segment.ts
   */
  sharedMemoryBytes?: number;
  /** mutual TLS under the job CA on every connection (secure-socket.ts); plaintext without */
  tls?: DataTls;
}

/**
 * The one refusal of a HELLO whose worker id or certificate is not that of the rank it claims: it
 * names no rank's worker, the same for every mismatch.
 */
export const NOT_ADMITTED = 'not admitted: the claim of this connection does not hold';

/** default TcpTransportOptions.sharedMemoryBytes */
export const SHARED_MEMORY_BYTES = 8 * 1024 * 1024;

export class TcpTransport implements Transport {
  private readonly sending = new Map<number, SendConnection>();
  private readonly receiving = new Map<number, ReceiveConnection>();
  /** per receiving rank, why it cannot connect for this rank's data: sends to it fail at once */
  private readonly refusals = new Map<number, string>();
  /** per sending rank, the newest collective a receive asked for */
  private readonly wanted = new Map<number, number>();
  private readonly boxes: Mailboxes;
  private readonly connectTimeoutMs: number;
  private readonly sharedMemoryBytes: number;
  private readonly tls: DataTls | undefined;
  /** chunks this rank sent through shared segments and over the wire */
  readonly stats: TransportStats = { sharedChunks: 0, wireChunks: 0 };

  constructor(
    readonly rank: number,
    readonly size: number,
    private readonly addresses: readonly string[],
    private readonly workerIds: readonly string[],
    readonly generation: bigint,
    opts: TcpTransportOptions = {},
    /** told of every socket this transport dials */
    private readonly track: (s: Socket) => void = () => undefined,
    /** under TLS, the name on rank i's worker certificate (the coordinator's PeerInfo.identity) */
    private readonly identities: readonly string[] = [],
  ) {
    this.boxes = new Mailboxes(rank, size, `generation ${generation}`);
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.sharedMemoryBytes = opts.sharedMemoryBytes ?? SHARED_MEMORY_BYTES;
    this.tls = opts.tls;
    if (size > 1) this.receiveFrom((rank + size - 1) % size);
  }

  openSend(to: number, sequence: number, timeoutMs: number): SendChannel {
    const what = `collective ${sequence} to rank ${to}`;
    const peer = this.boxes.isPeer(to) && this.addresses[to] !== undefined;
    const conn = this.boxes.retired || !peer ? undefined : this.sendTo(to);
    const refusal = this.boxes.retired ?? (peer ? this.refusals.get(to) : `no rank ${to} with a data address in a ring of ${this.size}`);
    if (!conn || (!conn.connected && refusal !== undefined)) {
      const e = new CollectiveError(`cannot send ${what}: ${refusal}`);
      if (this.boxes.retired === undefined && peer) this.boxes.doom(sequence, e.message);
      return { write: () => undefined, flush: () => Promise.reject(e), abort: () => undefined };
    }
    conn.sequence = sequence;
    conn.busy = true;
    conn.expect(this.connectTimeoutMs);
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
        if (this.sending.get(to) === conn) this.sending.delete(to);
        this.boxes.doom(sequence, `rank ${this.rank} failed: ${reason.message}`);
      },
    };
  }

  recv(from: number, sequence: number, timeoutMs: number): Promise<Chunk> {
    if (!this.boxes.retired && this.boxes.isPeer(from)) {
      this.wanted.set(from, Math.max(sequence, this.wanted.get(from) ?? 0));
      this.receiveFrom(from);
    }
    return this.boxes.recv(from, sequence, timeoutMs).catch((e: unknown) => {
      // a receive that timed out while its connection was still being opened says where it stuck
      const opening = this.receiving.get(from)?.opening;
      if (!opening || !(e instanceof CollectiveError) || !e.message.startsWith('timed out')) throw e;
      throw new CollectiveError(`${e.message}: the data connection from rank ${from} at ${this.addresses[from]} is not open (${opening})`);
    });
  }

  /**
   * Checks a receiver's HELLO against this membership: undefined to accept, else why not. The
   * receiver asks for the data of `from` (this rank) and is rank `to`; under TLS its connection
   * presented a worker certificate named `certificateName`. A claim that does not hold (not a
   * rank of the ring, another worker id, another certificate) gets NOT_ADMITTED whatever the
   * mismatch, before anything else is looked at, so a refusal tells no one which worker holds
   * which rank; only the worker the claim names learns more (another generation, say).
   */
  admit(h: Hello, certificateName: string | undefined): string | undefined {
    if (!this.authentic(h, certificateName)) return NOT_ADMITTED;
    if (h.generation !== this.generation) {
      return `generation ${h.generation} is not the current generation ${this.generation} of rank ${this.rank}`;
    }
    if (this.boxes.retired) return `rank ${this.rank} no longer takes part in generation ${this.generation}: ${this.boxes.retired}`;
    if (h.from !== this.rank) return `this is rank ${this.rank}, not rank ${h.from}`;
    return undefined;
  }

  /**
   * Whether the HELLO `h` comes from the worker this membership gives rank `h.to`: its worker id,
   * and under TLS the name on the certificate its connection presented (a stranger's refusal is
   * logged by the data server).
   */
  authentic(h: Hello, certificateName: string | undefined): boolean {
    if (!this.boxes.isPeer(h.to) || h.workerId !== this.workerIds[h.to]) return false;
    if (this.tls === undefined) return true;
    const expected = this.identities[h.to] ?? '';
    return expected !== '' && certificateName === expected;
  }

  /** A receiver's connection was admitted: it carries this rank's data to rank `to` from now on. */
  admitted(to: number, socket: Socket): SendConnection {
    this.refusals.delete(to);
    let c = this.sending.get(to);
    if (c && !c.attach(socket)) {
      // the receiver dialed again: it has given up the connection it had
      c.cancel(new CollectiveError(`rank ${to} opened a new data connection`));
      c = undefined;
    }
    if (!c) {
      c = this.newSend(to);
      c.attach(socket);
    }
    return c;
  }

  /**
   * Fails everything in flight and closes the connections. A new membership cuts them in both
   * directions (a receiving one with a REFUSE of every collective, so its sender stops waiting
   * for it); a closing server ends its sending ones normally (the receivers see a clean end) and
   * lets its receiving ones end when their senders hang up, since a neighbour may still be
   * inside the last collective with everything for this rank already sent (a new collective on
   * them is refused: this transport is retired).
   */
  retire(reason: string, cancelConnections: boolean): void {
    this.boxes.retire(reason, cancelConnections);
    if (cancelConnections) for (const c of [...this.receiving.values()]) c.close(EVERY, reason);
    for (const c of this.sending.values()) {
      if (cancelConnections) c.cancel(new CollectiveError(reason));
      else c.end();
    }
    this.sending.clear();
  }

  /** Waits until `conn` has handed everything to the kernel, cutting it at `deadline`. */
  private drained(conn: SendConnection, deadline: number, timedOut: string): Promise<void> {
    return byDeadline(conn.drained(), deadline, () => {
      const e = new CollectiveError(timedOut);
      conn.cancel(e);
      if (this.sending.get(conn.to) === conn) this.sending.delete(conn.to);
      this.boxes.doom(conn.sequence, e.message);
      return e;
    });
  }

  /** rank `to` cannot take this rank's data: sends waiting for it, and later ones, fail at once */
  private refuse(to: number, why: string): void {
    this.refusals.set(to, why);
    const c = this.sending.get(to);
    if (c && !c.connected) c.failWith(new CollectiveError(why));
  }

  /** The open connection to rank `to`, or a new one that waits for the receiver to connect. */
  private sendTo(to: number): SendConnection {
    const current = this.sending.get(to);
    if (current?.open) return current;
    return this.newSend(to);
  }

  private newSend(to: number): SendConnection {
    const c = new SendConnection(
      to,
      this.addresses[to] ?? '',
      (failed, error, refused) => {
        if (this.sending.get(to) === failed) this.sending.delete(to);
        if (refused === EVERY) this.refusals.set(to, error.message);
        // a failure between collectives costs nothing: the receiver connects again
        if (failed.busy) this.boxes.doom(failed.sequence, error.message);
        if (refused !== undefined && refused !== EVERY) this.boxes.doom(refused, error.message);
      },
      this.sharedMemoryBytes,
      this.stats,
    );
    this.sending.set(to, c);
    return c;
  }

  /** Dials rank `from` for its data unless a connection to it is open or being opened. */
  private receiveFrom(from: number): void {
    if (this.boxes.retired || this.receiving.get(from)?.open) return;
    const address = this.addresses[from];
    if (!address) return;
    const hello = { generation: this.generation, from, to: this.rank, workerId: this.workerIds[this.rank] ?? '' };
    const owner = {
      incoming: (f: number, sequence: number): Inbox => this.boxes.incoming(f, sequence),
      over: (c: ReceiveConnection, error: Error | undefined, redial: boolean, unreachable: boolean) => {
        if (this.receiving.get(from) !== c) return;
        this.receiving.delete(from);
        if (this.boxes.retired) return;
        if (redial) {
          setImmediate(() => this.receiveFrom(from));
          return;
        }
        // nothing listens for rank `from`: it cannot connect for this rank's data either
        if (unreachable && error) this.refuse(from, error.message);
        // a receive waiting for a collective the connection never carried learns why now
        const wanted = this.wanted.get(from) ?? 0;
        if (wanted > c.sequence) {
          try {
            this.boxes.incoming(from, wanted).end(error);
          } catch {
            // fed or refused already
          }
        }
      },
    };
    this.receiving.set(
      from,
      new ReceiveConnection(
        owner,
        from,
        address,
        hello,
        this.connectTimeoutMs,
        this.track,
        this.sharedMemoryBytes > 0,
        this.tls && {
          ...this.tls,
          serverName: this.identities[from] ?? '',
        },
      ),
    );
  }
}

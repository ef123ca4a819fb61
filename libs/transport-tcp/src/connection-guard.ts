/**
 * What a stranger can hold on a listening server, bounded: every accepted socket is tracked, and
 * until its server admits it (a HELLO checked, a first gRPC call opened) it is pending. A pending
 * socket is destroyed when its handshake deadline passes, and when more than
 * `maxPendingConnections` are pending the oldest is destroyed, so a flood of silent connections
 * cannot hold the process open or crowd out a ring neighbour that speaks at once. At shutdown the
 * pending sockets go first, without a grace period (they carry nothing), and destroyAll() cuts
 * whatever is left once the server's grace period is over.
 *
 * A deadline check runs one turn of the event loop late (setImmediate after the timer): an event
 * loop blocked for longer than the deadline (a long synchronous tfjs call) would otherwise run
 * the timer before reading the handshake that arrived meanwhile.
 */
import type { Socket } from 'node:net';
import { log } from '@permafrost/telemetry';

export interface ConnectionGuardOptions {
  /** a connection that has not completed its handshake within this long is destroyed (default 5000) */
  handshakeTimeoutMs?: number;
  /**
   * pending connections beyond this many: the oldest is destroyed (default 128). A server accepts
   * a burst of connections before it reads any of them, so the cap must exceed the number of
   * workers that connect at once (one evicted by a burst retries its Join).
   */
  maxPendingConnections?: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_PENDING_CONNECTIONS = 128;

export class ConnectionGuard {
  readonly handshakeTimeoutMs: number;
  readonly maxPendingConnections: number;
  /** pending sockets and their deadline timers, oldest first (Map keeps insertion order) */
  private readonly pending = new Map<Socket, NodeJS.Timeout>();
  private readonly sockets = new Set<Socket>();
  private cuts = 0;

  /** `what` names the server in the log ('the data server', 'the coordinator') */
  constructor(
    private readonly what: string,
    opts: ConnectionGuardOptions = {},
  ) {
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.maxPendingConnections = opts.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS;
    if (!(this.handshakeTimeoutMs > 0)) throw new RangeError(`handshakeTimeoutMs must be positive, not ${this.handshakeTimeoutMs}`);
    if (!(this.maxPendingConnections >= 1))
      throw new RangeError(`maxPendingConnections must be at least 1, not ${this.maxPendingConnections}`);
  }

  /** the sockets that have not completed their handshake */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** every open socket the guard tracks */
  get openCount(): number {
    return this.sockets.size;
  }

  /** A socket this process opened or admitted: tracked until it closes, so destroyAll() reaches it. */
  track(socket: Socket): void {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.release(socket);
    });
  }

  /** A socket the server accepted: tracked until it closes, pending until admit(). */
  accept(socket: Socket): void {
    this.track(socket);
    this.wait(socket, this.handshakeTimeoutMs);
    while (this.pending.size > this.maxPendingConnections) {
      const oldest = this.pending.keys().next().value as Socket;
      this.cut(oldest, `more than ${this.maxPendingConnections} connections were waiting for their handshake`);
    }
  }

  /**
   * The socket stays pending for `ms` more (from now): a handshake that arrived but must wait,
   * such as a HELLO of a membership this process has not reached yet.
   */
  wait(socket: Socket, ms: number): void {
    if (socket.destroyed) return;
    clearTimeout(this.pending.get(socket));
    this.pending.delete(socket);
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (this.pending.get(socket) === timer) this.cut(socket, `no handshake within ${ms} ms`);
        }),
      ms,
    );
    timer.unref();
    this.pending.set(socket, timer);
  }

  /** The socket completed its handshake: no deadline any more. */
  admit(socket: Socket): void {
    this.release(socket);
  }

  /** Destroys the sockets that have not completed their handshake. */
  destroyPending(): void {
    for (const s of [...this.pending.keys()]) {
      this.release(s);
      s.destroy();
    }
  }

  /** Destroys every socket still open. */
  destroyAll(): void {
    this.destroyPending();
    for (const s of [...this.sockets]) s.destroy();
  }

  private release(socket: Socket): void {
    clearTimeout(this.pending.get(socket));
    this.pending.delete(socket);
  }

  private cut(socket: Socket, why: string): void {
    this.release(socket);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.destroy();
    // the first one is worth a warning; a flood would drown the log
    const fields = { server: this.what, peer, why };
    if (this.cuts++ === 0) log().warn('closed a connection that did not complete its handshake (later ones are logged at debug)', fields);
    else log().debug('closed a connection that did not complete its handshake', fields);
  }
}

/**
 * The connection guard (ConnectionGuard, @permafrost/transport-tcp) on grpc-js's HTTP/2 servers.
 *
 * A connection completes its handshake with its first call (after TLS's own, on a secure server): a grpc-js client opens a connection
 * for a call and sends the HTTP/2 preface and the call together, so a raw TCP connection that
 * never speaks, or speaks HTTP/2 but never calls, is destroyed after the handshake timeout.
 *
 * Once a connection's HTTP/2 session is over (a GOAWAY for an idle connection, the server's
 * shutdown) its socket is destroyed, after LINGER_MS, or at once while the server closes: Node
 * ends the socket and then waits for the peer's FIN, which a peer that does not read never sends,
 * and the http2 server's close() would wait for it forever.
 *
 * grpc-js keeps its http2 servers in a private field, checked at run time (grpc-setup.spec.ts
 * notices a grpc-js upgrade that drops it).
 */
import { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Server } from '@grpc/grpc-js';
import type { ConnectionGuard } from '@permafrost/transport-tcp';

/** how long the socket of a finished session may take to close by itself */
const LINGER_MS = 1000;

/** grpc-js's http2 servers of `server` (none if grpc-js no longer keeps them where we look). */
export function http2ServersOf(server: Server): EventEmitter[] {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) return [];
  return [...http2Servers.keys()].filter((h): h is EventEmitter => h instanceof EventEmitter);
}

/**
 * Puts every connection of `server`'s http2 servers under `guard`; `closing()` says whether the
 * server is shutting down. Returns how many http2 servers it hooked.
 */
export function guardConnections(server: Server, guard: ConnectionGuard, closing: () => boolean): number {
  const servers = http2ServersOf(server);
  for (const h of servers) {
    // 'connection' gives the raw socket; 'session' follows at once in plaintext, but only after
    // the TLS handshake on a secure server, when other connections may have come in between: the
    // session finds its socket by the peer's address and port.
    const accepted = new Map<string, Socket>();
    h.prependListener('connection', (socket: Socket) => {
      const key = `${socket.remoteAddress}:${socket.remotePort}`;
      accepted.set(key, socket);
      socket.once('close', () => accepted.delete(key));
      guard.accept(socket);
    });
    h.on('session', (session: ServerHttp2Session) => {
      const key = `${session.socket?.remoteAddress}:${session.socket?.remotePort}`;
      const socket = accepted.get(key);
      accepted.delete(key);
      if (!socket) return;
      session.once('stream', () => guard.admit(socket));
      session.once('close', () => {
        if (closing()) socket.destroy();
        else setTimeout(() => socket.destroy(), LINGER_MS).unref();
      });
    });
  }
  return servers.length;
}

/**
 * The connection guard (ConnectionGuard, @permafrost/transport-tcp) on grpc-js's HTTP/2 servers.
 *
 * A connection completes its handshake with its first call: a grpc-js client opens a connection
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
    // Node's http2 server creates a connection's session, and emits 'session', synchronously in
    // its own 'connection' listener: a listener put before it sees the socket first.
    let accepted: Socket | undefined;
    h.prependListener('connection', (socket: Socket) => {
      accepted = socket;
      guard.accept(socket);
    });
    h.on('session', (session: ServerHttp2Session) => {
      const socket = accepted;
      accepted = undefined;
      if (!socket || socket.remotePort !== session.socket?.remotePort) return;
      session.once('stream', () => guard.admit(socket));
      session.once('close', () => {
        if (closing()) socket.destroy();
        else setTimeout(() => socket.destroy(), LINGER_MS).unref();
      });
    });
  }
  return servers.length;
}

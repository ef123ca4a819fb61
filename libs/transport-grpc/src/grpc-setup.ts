/**
 * How every channel and server of Permafrost is configured, and how servers start and stop.
 *
 * Keepalive: both ends ping every 2 s and drop the connection when a ping is not answered within
 * 2 s, also while no call is active. A peer host that vanishes without a TCP reset (power loss,
 * network partition) is then noticed in about 4 s instead of the minutes TCP takes on its own;
 * the open Session or Exchange calls fail with UNAVAILABLE. grpc-js servers do not enforce a
 * minimum ping interval, so fast client pings are not punished with GOAWAY.
 *
 * Message sizes: allreduce chunks are several MiB, far above gRPC's 4 MiB receive default.
 */
import { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import { type ChannelOptions, credentials, Server, ServerCredentials } from '@grpc/grpc-js';

/** Largest message either side sends or accepts, bytes. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/**
 * Keepalive only has to catch a silent network partition: a dead process resets its TCP
 * connections and is noticed at once, a hung one misses its heartbeats. A worker's event loop
 * can be busy for seconds in one synchronous tfjs call (a batch through MobileNetV2 at 224 px),
 * and an unanswered ping must not cut its session then, so the timeout is generous.
 */
const KEEPALIVE_TIME_MS = 10_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;
/** HTTP/2 receive windows of a server: per stream, and for the whole connection (bytes). */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** How long close() lets calls in flight finish before cutting them. */
const SHUTDOWN_GRACE_MS = 1000;

const COMMON: ChannelOptions = {
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
  'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
  'grpc.keepalive_permit_without_calls': 1,
};

/**
 * Client channels reconnect quickly: a worker retries Join while the coordinator starts up, and
 * the default backoff (up to 120 s) would leave it waiting long after the server is there.
 */
export const CHANNEL_OPTIONS: ChannelOptions = {
  ...COMMON,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // A larger receive window lets the coordinator's and peers' responses flow without stalls.
  'grpc-node.flow_control_window': 4 * 1024 * 1024,
};

/**
 * Channels to ring neighbours carry one long-lived Exchange stream each, which is never retried.
 * grpc-js would still hold on to up to a MiB of a call's messages until the server's response
 * headers arrive (which a client stream gets only at its end), confirming each write at once; with
 * no retry buffer a write is confirmed once HTTP/2 has taken it, so a receiver that stops reading
 * holds the sender back and runs into the collective's deadline.
 */
export const PEER_CHANNEL_OPTIONS: ChannelOptions = {
  ...CHANNEL_OPTIONS,
  'grpc.enable_retries': 0,
  'grpc.per_rpc_retry_buffer_size': 0,
};

export const SERVER_OPTIONS: ChannelOptions = { ...COMMON };

export const insecure = () => credentials.createInsecure();

export interface BoundServer {
  /** the address actually bound, HOST:PORT (the port filled in when 0 was asked for) */
  address: string;
  close(): Promise<void>;
}

/** Splits 'HOST:PORT' (HOST may be a bracketed IPv6 address) at its last colon. */
export function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i);
  const port = Number(listen.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535 || listen.slice(i + 1) === '') {
    throw new Error(`listen address '${listen}' is not HOST:PORT (use port 0 for any free port)`);
  }
  return { host, port };
}

/**
 * Binds `server` to `listen` and returns the bound address with a close() that never hangs.
 * `creds`: TLS (tls-credentials.ts) or, by default, plaintext.
 */
export async function bindServer(server: Server, listen: string, creds?: ServerCredentials): Promise<BoundServer> {
  const { host } = splitHostPort(listen);
  const port = await new Promise<number>((done, fail) =>
    server.bindAsync(listen, creds ?? ServerCredentials.createInsecure(), (err, p) =>
      err ? fail(new Error(`cannot listen on ${listen}: ${err.message}`)) : done(p),
    ),
  );
  widenReceiveWindows(server);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((done) => {
      // Open streams (a Session, a stalled Exchange) would keep tryShutdown waiting forever.
      const force = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(force);
        done();
      });
    });
    return closing;
  };
  return { address: `${host}:${port}`, close };
}

/** `overrides`: options of one server on top of SERVER_OPTIONS (a smaller message limit) */
export function newServer(overrides: ChannelOptions = {}): Server {
  return new Server({ ...SERVER_OPTIONS, ...overrides });
}

/**
 * grpc-js has a client option for the HTTP/2 receive window but none for servers, which keep
 * Node's 64 KiB. A client streaming a multi-MiB chunk then stops every 64 KiB until the
 * receiving process's event loop gets round to a WINDOW_UPDATE; with both ends busy reducing,
 * that costs about half the loopback throughput. So every new connection gets larger windows. grpc-js keeps
 * its http2 servers in a private field: it is checked at run time, and without it the server
 * still works, only slower (grpc-setup.spec.ts notices a grpc-js upgrade that drops the field).
 */
export function widenReceiveWindows(server: Server): number {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) return 0;
  let hooked = 0;
  for (const h of http2Servers.keys()) {
    if (!(h instanceof EventEmitter)) continue;
    hooked++;
    h.on('session', (session: ServerHttp2Session) => {
      try {
        session.settings({ initialWindowSize: STREAM_WINDOW_BYTES });
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
        // (Node's http2 already turns Nagle off on its sockets, which it does not let us touch)
      } catch {
        // a session that is already closing: nothing to tune
      }
    });
  }
  return hooked;
}

/**
 * How every channel and server of Permafrost is configured, and how servers start and stop.
 *
 * Keepalive: both ends ping every 10 s and drop the connection when a ping is not answered within
 * 20 s, also while no call is active, so a peer host that vanishes without a TCP reset (power
 * loss, network partition) is noticed within about 30 s instead of the minutes TCP takes on its
 * own; the open Session or Exchange calls then fail with UNAVAILABLE. A stopped or hung process
 * is noticed sooner by the application's heartbeats (cluster.heartbeatTimeoutMs, both ways on the
 * Session). grpc-js servers do not enforce a minimum ping interval, so client pings are not
 * punished with GOAWAY.
 *
 * Strangers: a connection must open its first call within the handshake timeout, at most a
 * bounded number wait for that at once (server-guard.ts), and a connection with no call for
 * IDLE_CONNECTION_MS gets a GOAWAY. Shutdown: close() cuts connections without a call at once,
 * lets calls in flight finish for SHUTDOWN_GRACE_MS, then cuts everything, and never hangs.
 *
 * Message sizes: allreduce chunks are several MiB, far above gRPC's 4 MiB receive default.
 */
import type { ServerHttp2Session } from 'node:http2';
import { type ChannelOptions, credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import { ConnectionGuard, type ConnectionGuardOptions } from '@permafrost/transport-tcp';
import { guardConnections, http2ServersOf } from './server-guard';

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
/**
 * How long close() lets calls in flight finish before cutting them. At the end of a job none are
 * left (workers have left, neighbours have hung up); a peer that hangs keeps a process at most
 * this long, which keeps its exit within 2 s of the job's end.
 */
const SHUTDOWN_GRACE_MS = 1000;
/**
 * A connection without a call for this long gets a GOAWAY (a legitimate client reconnects for its
 * next call). Sessions and Exchange streams stay open for a whole job, so only strangers and
 * clients between calls are idle.
 */
const IDLE_CONNECTION_MS = 30_000;

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

export const SERVER_OPTIONS: ChannelOptions = { ...COMMON, 'grpc.max_connection_idle_ms': IDLE_CONNECTION_MS };

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
 * Binds `server` to `listen` and returns the bound address with a close() that never hangs; every
 * connection is under a ConnectionGuard (`guardOptions`: its handshake timeout and pending cap).
 * `creds`: TLS (tls-credentials.ts) or, by default, plaintext.
 */
export async function bindServer(
  server: Server,
  listen: string,
  guardOptions: ConnectionGuardOptions = {},
  creds?: ServerCredentials,
): Promise<BoundServer> {
  const { host } = splitHostPort(listen);
  const port = await new Promise<number>((done, fail) =>
    server.bindAsync(listen, creds ?? ServerCredentials.createInsecure(), (err, p) =>
      err ? fail(new Error(`cannot listen on ${listen}: ${err.message}`)) : done(p),
    ),
  );
  widenReceiveWindows(server);
  const guard = new ConnectionGuard(`the gRPC server at ${host}:${port}`, guardOptions);
  let closing: Promise<void> | undefined;
  guardConnections(server, guard, () => closing !== undefined);
  const close = () => {
    closing ??= new Promise<void>((done) => {
      guard.destroyPending();
      // Open streams (a Session, a stalled Exchange) would keep tryShutdown waiting forever.
      const force = setTimeout(() => {
        server.forceShutdown();
        guard.destroyAll();
        done();
      }, SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(force);
        guard.destroyAll();
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
 * that costs about half the loopback throughput. So every new connection gets larger windows
 * (through grpc-js's private http2 servers, see server-guard.ts; without them the server still
 * works, only slower).
 */
export function widenReceiveWindows(server: Server): number {
  const servers = http2ServersOf(server);
  for (const h of servers) {
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
  return servers.length;
}

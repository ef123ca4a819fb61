/**
 * The coordinator's gRPC server: CoordinatorService on top of CoordinatorHandlers.
 *
 * Join, Leave and Status are unary: the handler's promise becomes the response, a rejected
 * PermafrostError becomes its status, anything else INTERNAL. Session is one bidirectional stream per
 * worker for the whole job; the handler gets it as a SessionStream whose onClose fires exactly
 * once, when the worker half-closes, cancels, or its connection drops (a killed worker's socket
 * closes at once; a vanished host is caught by keepalive), or when the coordinator ends it.
 * Watch streams status snapshots to a tool (watch-server.ts).
 */
import type { ServerDuplexStream, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { Caller, CoordinatorHandlers, CoordinatorServer, ServeSecurity, SessionStream } from '@permafrost/coordinator';
import type { SessionRequest, SessionResponse, WatchRequest, WatchResponse } from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';
import type { ConnectionGuardOptions } from '@permafrost/transport-tcp';
import { type Access, authorize } from './call-guard';
import { bindServer, newServer } from './grpc-setup';
import { coordinatorService } from './services';
import { toServiceError } from './status';
import { StreamEvents } from './stream-events';
import { serverCredentials } from './tls-credentials';
import { openWatch } from './watch-server';

class ServerSession implements SessionStream {
  readonly peer: string;
  private readonly events = new StreamEvents<SessionRequest>();
  private ended = false;

  constructor(
    private readonly call: ServerDuplexStream<SessionRequest, SessionResponse>,
    readonly caller: Caller,
  ) {
    this.peer = call.getPeer();
    call.on('data', (m: SessionRequest) => this.events.message(m));
    // The worker half-closed: the conversation is over, so the call is completed with OK unless
    // a close listener ends it with something else first. A dropped connection also ends the
    // request stream, with 'cancelled' right behind; waiting one turn of the event loop tells
    // the two apart.
    call.on('end', () =>
      setImmediate(() => {
        if (this.call.cancelled) return;
        this.events.close(undefined);
        this.end();
      }),
    );
    call.on('cancelled', () =>
      this.events.close(new PermafrostError('cancelled', `the session with ${this.peer} was cancelled or its connection dropped`)),
    );
    // 'error' is also how end(error) hands grpc-js the status (see there); from outside it means
    // the call failed locally.
    call.on('error', (e: Error) => this.events.close(this.ended ? undefined : new PermafrostError('internal', e.message)));
    call.on('close', () => this.events.close(undefined));
  }

  onMessage(fn: (m: SessionRequest) => void): void {
    this.events.onMessage(fn);
  }

  onClose(fn: (error: Error | undefined) => void): void {
    this.events.onClose(fn);
  }

  send(m: SessionResponse): void {
    // Writes after the end are dropped: the owner learns about the end through onClose.
    if (this.ended || this.call.cancelled) return;
    this.call.write(m);
  }

  end(error?: PermafrostError): void {
    if (this.ended) return;
    this.ended = true;
    this.events.close(error);
    if (this.call.cancelled) return;
    // grpc-js's server streams take a non-OK status as an emitted error: it records the status
    // and ends the call with it once the queued messages are out.
    if (error) this.call.emit('error', toServiceError(error));
    else this.call.end();
  }
}

/**
 * The largest message the coordinator accepts, bytes: an EpochResult lists the sample ids a rank
 * trained (4-5 bytes each), so 64 MiB holds over ten million; nothing else comes near. Allreduce
 * chunks never pass through the coordinator, so it needs none of the Peer service's 256 MiB.
 */
export const COORDINATOR_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

function unary<Req, Res>(access: Access, method: string, security: ServeSecurity, fn: (req: Req, caller: Caller) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, respond: sendUnaryData<Res>) => {
    // Promise.resolve().then also turns a synchronous throw into a rejection.
    Promise.resolve()
      .then(() => fn(call.request, authorize(access, method, call, security)))
      .then(
        (res) => respond(null, res),
        (e: unknown) => respond(toServiceError(e)),
      );
  };
}

function openSession(call: ServerDuplexStream<SessionRequest, SessionResponse>, handlers: CoordinatorHandlers, security: ServeSecurity) {
  let caller: Caller;
  try {
    caller = authorize('worker', 'Session', call, security);
  } catch (e) {
    call.emit('error', toServiceError(e));
    return;
  }
  const s = new ServerSession(call, caller);
  try {
    handlers.session(s);
  } catch (e) {
    s.end(
      e instanceof PermafrostError ? e : new PermafrostError('internal', `internal error: ${e instanceof Error ? e.message : String(e)}`),
    );
  }
}

/**
 * Serves `handlers` as CoordinatorService on `listen` ('HOST:PORT', port 0 for any free port; a
 * ServeCoordinator): mutual TLS with `security.tls`, plaintext without; strangers bounded by
 * `guard` (grpc-setup.ts).
 */
export async function startCoordinatorServer(
  listen: string,
  handlers: CoordinatorHandlers,
  security: ServeSecurity = {},
  guard: ConnectionGuardOptions = {},
): Promise<CoordinatorServer> {
  const creds = await serverCredentials(security.tls && { files: security.tls, allowWithoutCertificate: security.token !== undefined });
  const server = newServer({ 'grpc.max_receive_message_length': COORDINATOR_MAX_MESSAGE_BYTES });
  server.addService(coordinatorService, {
    join: unary('worker', 'Join', security, handlers.join.bind(handlers)),
    leave: unary('worker', 'Leave', security, handlers.leave.bind(handlers)),
    status: unary('read', 'Status', security, handlers.status.bind(handlers)),
    session: (call: ServerDuplexStream<SessionRequest, SessionResponse>) => openSession(call, handlers, security),
    watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => openWatch(call, handlers, security),
  });
  return bindServer(server, listen, guard, creds);
}

/**
 * The seams of the control plane, both ends: the coordinator implements CoordinatorHandlers and a
 * worker drives a CoordinatorClient; both see only protobuf-es messages, and libs/transport-grpc
 * carries them over gRPC. A handler refuses a call by throwing a PermafrostError, whose code the
 * transport passes on as the call's status; a client's failed call rejects with a PermafrostError
 * carrying that code.
 */
import type {
  JoinRequest,
  JoinResponse,
  LeaveRequest,
  LeaveResponse,
  SessionRequest,
  SessionResponse,
  StatusRequest,
  StatusResponse,
  WatchRequest,
  WatchResponse,
} from '@permafrost/proto';
import type { PermafrostError } from '@permafrost/telemetry';

/**
 * Who made a call, as the transport authenticated it: the role and name of the client's verified
 * certificate, none over plaintext (`--insecure`) or for a tool that presented the job token.
 * The transport has already checked that the caller may call the method at all (a worker
 * certificate for Join, Session and Leave); the coordinator binds a member to the certificate
 * it joined with.
 */
export interface Caller {
  identity?: { role: string; name: string };
}

/** One worker's Session stream, server side. */
export interface SessionStream {
  /** the peer's address, for logs */
  readonly peer: string;
  /** who opened it */
  readonly caller?: Caller;
  onMessage(fn: (m: SessionRequest) => void): void;
  /** the stream ended or broke (the worker died, the network failed, the client cancelled) */
  onClose(fn: (error: Error | undefined) => void): void;
  send(m: SessionResponse): void;
  /** ends the stream with a status: OK without `error` */
  end(error?: PermafrostError): void;
}

/** One Watch call, server side: snapshots go down until the job ends or the client goes. */
export interface WatchStream {
  /** the peer's address, for logs */
  readonly peer: string;
  /** the client cancelled, its connection dropped, or the call ended */
  onClose(fn: () => void): void;
  send(e: WatchResponse): void;
  /** ends the call with a status: OK without `error` */
  end(error?: PermafrostError): void;
}

export interface CoordinatorHandlers {
  join(req: JoinRequest, caller?: Caller): Promise<JoinResponse>;
  session(stream: SessionStream): void;
  leave(req: LeaveRequest, caller?: Caller): Promise<LeaveResponse>;
  status(req: StatusRequest, caller?: Caller): Promise<StatusResponse>;
  /** the server-streaming Watch; a server without it answers UNIMPLEMENTED */
  watch?(req: WatchRequest, stream: WatchStream, caller?: Caller): void;
}

/** A server carrying the handlers: its bound address, and how to stop it. */
export interface CoordinatorServer {
  /** the address actually bound, HOST:PORT */
  address: string;
  /** stops accepting calls, lets calls in flight finish for a moment, then cuts them */
  close(): Promise<void>;
}

/**
 * How the coordinator's server authenticates: TLS files (its certificate and key, and the job CA
 * its clients' certificates must come from), and the job token a tool may present instead of a
 * certificate for the read-only calls. Neither: plaintext, anyone may call (`--insecure`).
 */
export interface ServeSecurity {
  tls?: { ca: string; cert: string; key: string };
  token?: string;
}

/** Starts a server for `handlers` on `listen` (HOST:PORT; port 0: any free port). */
export type ServeCoordinator = (listen: string, handlers: CoordinatorHandlers, security?: ServeSecurity) => Promise<CoordinatorServer>;

/** The worker's side of a Session stream. */
export interface SessionClientStream {
  send(m: SessionRequest): void;
  onMessage(fn: (m: SessionResponse) => void): void;
  onClose(fn: (error: Error | undefined) => void): void;
  end(): void;
}

/** A tool's side of a Watch call. */
export interface WatchClientStream {
  onEvent(fn: (e: WatchResponse) => void): void;
  /** the call ended: OK (the job ended) without `error`, else why (a cancel: 'cancelled') */
  onClose(fn: (error: Error | undefined) => void): void;
  /** cancels the call; onClose follows */
  cancel(): void;
}

export interface CoordinatorClient {
  join(req: JoinRequest, timeoutMs: number): Promise<JoinResponse>;
  session(): SessionClientStream;
  leave(req: LeaveRequest, timeoutMs: number): Promise<LeaveResponse>;
  status(req: StatusRequest, timeoutMs: number): Promise<StatusResponse>;
  watch(req: WatchRequest): WatchClientStream;
  close(): void;
}

/**
 * The seams between gRPC and the rest: the coordinator's logic implements CoordinatorHandlers and
 * never sees grpc-js; the worker drives a CoordinatorClient. Message types are the protobuf-es
 * types generated into libs/proto.
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
} from '@permafrost/proto';

/** gRPC status codes the handlers use, by name. */
export type RpcCode =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'deadline-exceeded'
  | 'unavailable'
  | 'aborted'
  | 'internal'
  // the rest of gRPC's codes, so that a client can report any status it receives faithfully
  | 'cancelled'
  | 'unknown'
  | 'permission-denied'
  | 'resource-exhausted'
  | 'out-of-range'
  | 'unimplemented'
  | 'data-loss'
  | 'unauthenticated';

/** Thrown by handlers (and raised by clients) to carry a gRPC status. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: RpcCode,
    message: string,
  ) {
    super(message);
  }
}

/** One worker's Session stream, server side. */
export interface SessionStream {
  /** the peer's address, for logs */
  readonly peer: string;
  onMessage(fn: (m: SessionRequest) => void): void;
  /** the stream ended or broke (the worker died, the network failed, the client cancelled) */
  onClose(fn: (error: Error | undefined) => void): void;
  send(m: SessionResponse): void;
  /** ends the stream with a status: OK without `error` */
  end(error?: RpcError): void;
}

export interface CoordinatorHandlers {
  join(req: JoinRequest): Promise<JoinResponse>;
  session(stream: SessionStream): void;
  leave(req: LeaveRequest): Promise<LeaveResponse>;
  status(req: StatusRequest): Promise<StatusResponse>;
}

/** The worker's side of a Session stream. */
export interface SessionClientStream {
  send(m: SessionRequest): void;
  onMessage(fn: (m: SessionResponse) => void): void;
  onClose(fn: (error: Error | undefined) => void): void;
  end(): void;
}

export interface CoordinatorClient {
  join(req: JoinRequest, timeoutMs: number): Promise<JoinResponse>;
  session(): SessionClientStream;
  leave(req: LeaveRequest, timeoutMs: number): Promise<LeaveResponse>;
  status(req: StatusRequest, timeoutMs: number): Promise<StatusResponse>;
  close(): void;
}

/**
 * The worker's seam to the control plane: it drives a CoordinatorClient and never sees grpc-js
 * (the coordinator's side, CoordinatorHandlers, is defined by libs/coordinator). Message types are
 * the protobuf-es types generated into libs/proto; a failed call rejects with a PermafrostError
 * carrying the status's code.
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

/**
 * gRPC status <-> PermafrostError. Handlers throw PermafrostError(code, message) and the client sees the same
 * code with the message as the status details; anything else a handler throws is a bug and goes
 * out as INTERNAL. On the client every failure, including ones grpc-js makes up locally (nothing
 * listens, deadline passed, connection dropped), arrives as an PermafrostError.
 */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { type ErrorCode, PermafrostError } from '@permafrost/telemetry';

const TO_STATUS: Record<ErrorCode, status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  'already-exists': status.ALREADY_EXISTS,
  'failed-precondition': status.FAILED_PRECONDITION,
  'deadline-exceeded': status.DEADLINE_EXCEEDED,
  unavailable: status.UNAVAILABLE,
  aborted: status.ABORTED,
  internal: status.INTERNAL,
  cancelled: status.CANCELLED,
  unknown: status.UNKNOWN,
  'permission-denied': status.PERMISSION_DENIED,
  'resource-exhausted': status.RESOURCE_EXHAUSTED,
  'out-of-range': status.OUT_OF_RANGE,
  unimplemented: status.UNIMPLEMENTED,
  'data-loss': status.DATA_LOSS,
  unauthenticated: status.UNAUTHENTICATED,
};

const FROM_STATUS = new Map<number, ErrorCode>(Object.entries(TO_STATUS).map(([code, s]) => [s, code as ErrorCode]));

export function grpcStatus(code: ErrorCode): status {
  return TO_STATUS[code];
}

/** The code of a non-OK gRPC status (a status outside the table, which grpc-js never produces, is 'unknown'). */
export function rpcCode(s: number): ErrorCode {
  return FROM_STATUS.get(s) ?? 'unknown';
}

/** What a server sends for a handler's failure. */
export function toServiceError(e: unknown): Partial<ServiceError> & { code: status; details: string } {
  if (e instanceof PermafrostError) return { code: TO_STATUS[e.code], details: e.message, metadata: new Metadata() };
  // Not an PermafrostError means a bug on the server; the client learns that much and the message,
  // which is safe here (same trust domain) and saves a trip to the coordinator's log.
  const message = e instanceof Error ? e.message : String(e);
  return { code: status.INTERNAL, details: `internal error: ${message}`, metadata: new Metadata() };
}

/** What a client raises for a failed call: the status as an PermafrostError whose message is the server's details. */
export function fromServiceError(e: unknown): PermafrostError {
  if (e instanceof PermafrostError) return e;
  const s = e as Partial<ServiceError> | undefined;
  if (s && typeof s.code === 'number') return new PermafrostError(rpcCode(s.code), s.details || s.message || `gRPC status ${s.code}`);
  return new PermafrostError('internal', e instanceof Error ? e.message : String(e));
}

/**
 * The project's error vocabulary. A mistake in what the user gave us (a flag, a config field, a
 * file) is a UserError naming the field or file: one line, exit code 2, no stack trace. Every
 * other failure the code expects (a lost peer, a refused join, a failed job) is a
 * PermafrostError with a code: one line, exit code 1. A command stopped in order by a signal (a
 * graceful stop) ends with a StoppedError: one line, exit code 128 + the signal's number, what a
 * shell or Kubernetes reports for a process that signal ended. Anything else is a bug and keeps
 * its stack.
 * The codes are gRPC's status codes by name, so the control plane carries them unchanged
 * (libs/transport-grpc maps them to and from gRPC statuses, exitCodeOf to exit codes).
 */
import { constants } from 'node:os';

export type ErrorCode =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'deadline-exceeded'
  | 'unavailable'
  | 'aborted'
  | 'internal'
  | 'cancelled'
  | 'unknown'
  | 'permission-denied'
  | 'resource-exhausted'
  | 'out-of-range'
  | 'unimplemented'
  | 'data-loss'
  | 'unauthenticated';

export class PermafrostError extends Error {
  override readonly name: string = 'PermafrostError';
  /** the process exit code this failure ends a command with */
  readonly exitCode: number = 1;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class UserError extends PermafrostError {
  override readonly name = 'UserError';
  override readonly exitCode = 2;

  /** @param field the flag, config path or file the message is about, if any */
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super('invalid-argument', field ? `${field}: ${message}` : message);
  }
}

export class StoppedError extends PermafrostError {
  override readonly name = 'StoppedError';
  override readonly exitCode: number;

  constructor(message: string, signal: NodeJS.Signals) {
    super('cancelled', message);
    this.exitCode = 128 + (constants.signals[signal] ?? constants.signals.SIGTERM);
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** The process exit code for a failure: 2 for a user mistake, 128 + signal for a stop, 1 for everything else. */
export function exitCodeOf(e: unknown): number {
  return e instanceof PermafrostError ? e.exitCode : 1;
}

/** Whether a failure is expected (one line to the user) rather than a bug (its stack). */
export function isExpectedFailure(e: unknown): e is PermafrostError {
  return e instanceof PermafrostError;
}

/**
 * A mistake in what the user gave us (a flag, a config field, a file): reported as one line
 * naming the field or file, exit code 2, no stack trace. Everything else is a bug or an
 * environment failure and keeps its stack.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  readonly exitCode = 2;

  /** @param field the flag, config path or file the message is about, if any */
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/**
 * The job token: a shared secret for tools and humans (`permafrost status`, the metrics port),
 * read from a file or an environment variable (a Kubernetes Secret mounts either). It is
 * compared in constant time and never logged: only whether it matched is.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UserError } from '@permafrost/telemetry';

/** the environment variable a token is read from when no file is named */
export const TOKEN_ENV = 'PERMAFROST_TOKEN';
/** shorter tokens are refused: they could be guessed */
export const MIN_TOKEN_CHARS = 16;

/**
 * Whether `presented` is `expected`, in time independent of where they differ. Both are hashed
 * first, so that the comparison also takes the same time whatever their lengths.
 */
export function checkToken(expected: string, presented: string | undefined): boolean {
  if (!expected || presented === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

/**
 * The token from `file` (surrounding white space trimmed), else from the environment variable
 * `env`; undefined when neither is given. A file that cannot be read or a token too short is a
 * UserError naming the file or variable, never the token.
 */
export function loadToken(file: string | undefined, env: string = TOKEN_ENV, flag = '--token-file'): string | undefined {
  let token: string | undefined;
  let source: string;
  if (file !== undefined) {
    source = `${flag} ${file}`;
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new UserError(`cannot read the token file: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`, `${flag} ${file}`);
    }
  } else {
    source = env;
    token = process.env[env]?.trim();
    if (token === undefined || token === '') return undefined;
  }
  if (token.length < MIN_TOKEN_CHARS) throw new UserError(`the token is shorter than ${MIN_TOKEN_CHARS} characters`, source);
  return token;
}

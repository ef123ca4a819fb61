/**
 * What goes wrong with a cache, as errors: CacheError (one line, saying what and where) and its
 * corrupt kind, which names the fix (`cache repair`, or deleting the directory). LMDB's own errors
 * on a damaged file are recognised here and become corrupt CacheErrors, and the pre-open check
 * of `cache.mdb` (lmdb-file-check.ts, lmdb-tree-check.ts) throws one.
 */
import { join } from 'node:path';
import { PermafrostError } from '@permafrost/telemetry';
import { checkLmdbTrees } from './lmdb-tree-check';

export class CacheError extends PermafrostError {
  override readonly name = 'CacheError';
  /** the environment itself is damaged (truncated, bad pages): repair or delete it */
  readonly corrupt: boolean;

  constructor(message: string, opts: { corrupt?: boolean } = {}) {
    super(opts.corrupt ? 'data-loss' : 'failed-precondition', message);
    this.corrupt = opts.corrupt ?? false;
  }
}

/** What to tell a person whose cache in `dir` is corrupt. */
export function corruptCacheHint(dir: string): string {
  return `run \`permafrost cache repair --cache-dir ${dir}\` to keep its readable entries, or delete ${dir}`;
}

/** A corrupt CacheError: what is wrong with the cache in `dir`, and how to fix it. */
export function corruptCache(dir: string, problem: string): CacheError {
  return new CacheError(`the cache in ${dir} is corrupt: ${problem}; ${corruptCacheHint(dir)}`, { corrupt: true });
}

/**
 * Whether an error from lmdb-js says the environment is damaged (LMDB's MDB_CORRUPTED,
 * MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH, MDB_BAD_TXN and their messages), as
 * opposed to the environment around it (permissions, a full disk).
 */
export function isLmdbDamage(e: unknown): boolean {
  const message = e instanceof Error ? e.message : String(e);
  return /MDB_(CORRUPTED|PAGE_NOTFOUND|INVALID|VERSION_MISMATCH|BAD_TXN|BAD_VALSIZE)|wrong type|page not found|not an LMDB file|corrupt|Input\/output error|EIO\b/i.test(
    message,
  );
}

/** An error LMDB raised on a damaged environment, as a corrupt CacheError. */
export function lmdbFailure(dir: string, what: string, e: unknown): CacheError {
  if (e instanceof CacheError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return corruptCache(dir, `${what} failed (${message.split('\n')[0]})`);
}

/**
 * Throws a corrupt CacheError when `cache.mdb` is shorter than its meta pages say, or a page of
 * its trees is damaged (lmdb-file-check.ts, lmdb-tree-check.ts): mapping it could kill the process.
 */
export function checkEnvFile(dir: string): void {
  let check: ReturnType<typeof checkLmdbTrees>;
  try {
    check = checkLmdbTrees(join(dir, 'cache.mdb'));
  } catch (e) {
    throw new CacheError(`cannot read ${join(dir, 'cache.mdb')}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!check.ok) throw corruptCache(dir, `cache.mdb: ${check.problem}`);
}

/**
 * The LMDB activation cache: one environment per cache directory (`cache.mdb`, LMDB data format
 * 2 as lmdb-js writes it), with two named databases:
 *
 *   activations  [fingerprint id u32 BE][sample id u32 BE] -> encoded value (value-codec.ts)
 *   meta         "fp:<hex>" -> fingerprint record (JSON); "next-id" -> the next fingerprint id
 *
 * Each training batch's new values are written in one transaction; the map grows as needed.
 * LMDB's MVCC lets other processes read
 * while a run writes. A failed write (disk full, read-only file system) marks the cache unhealthy
 * and is reported once; callers then train uncached. A directory holding other files is never
 * taken over: it is "not a Permafrost cache". A process that opens the cache for writing
 * registers itself in `writers/` (writers.ts), so that `cache gc` can tell a run is in progress;
 * read-only opens (the inspection tools) leave no trace and never block a writer.
 *
 * A damaged environment is a CacheError with `corrupt` set, never a crash: before lmdb maps
 * `cache.mdb`, its meta pages are checked against the file's length (lmdb-file-check.ts; a
 * truncated file would otherwise be a SIGBUS) and its trees are walked (lmdb-tree-check.ts; a
 * damaged page pointer would be a SIGBUS or an LMDB assertion), and any error LMDB raises at
 * open, read or write is caught here. A read error marks the cache unhealthy like a failed write: the run goes on
 * uncached.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { CacheError, checkEnvFile, corruptCache, isLmdbDamage, lmdbFailure } from './cache-errors';
import type { FingerprintInfo, FingerprintRecord } from './fingerprint-record';
import { activationKey, fingerprintRange, parseKey } from './keys';
import { type Codec, decodeInto, encodedBytes, encodeValue } from './value-codec';
import { registerWriter, type WriterRegistration, type WriterRole } from './writers';

export { CacheError, corruptCacheHint } from './cache-errors';

export const MARKER = 'permafrost-cache.json';
export const ENV_FILE = 'cache.mdb';

/** The LMDB handles, for this lib's own tools (stats, gc, export); not exported from the index. */
export interface CacheDatabases {
  env: RootDatabase;
  values: Database<Buffer, Buffer>;
  meta: Database<unknown, string>;
}

export interface OpenOptions {
  codec?: Codec;
  /** open without writing anything: the marker, the environment and `writers/` must exist */
  readOnly?: boolean;
  /** what a writing open registers as in `writers/` (default train) */
  writerRole?: WriterRole;
  onError?: (e: Error) => void;
}

export interface FingerprintHandle {
  id: number;
  fingerprint: string;
  elements: number;
}

export type Lookup = 'hit' | 'miss' | 'corrupt';

export interface CacheUsage {
  hits: number;
  misses: number;
  checksumFailures: number;
  entriesAdded: number;
  bytesAdded: number;
}

export class ActivationCache {
  /** false once a write failed; the caller stops using the cache */
  healthy = true;
  lastError: Error | undefined;
  private onError: ((e: Error) => void) | undefined;

  private constructor(
    readonly dir: string,
    private readonly env: RootDatabase,
    private readonly values: Database<Buffer, Buffer>,
    private readonly meta: Database<unknown, string>,
    readonly codec: Codec,
    readonly readOnly: boolean,
    private readonly writer: WriterRegistration | undefined,
  ) {}

  /** Opens (creating if needed, unless readOnly) the cache in `dir`. Throws CacheError. */
  static open(dir: string, opts: OpenOptions = {}): ActivationCache {
    const marker = join(dir, MARKER);
    const readOnly = opts.readOnly ?? false;
    if (existsSync(dir)) {
      if (!statSync(dir).isDirectory()) throw new CacheError(`${dir} is not a directory`);
      const entries = readdirSync(dir);
      if ((readOnly || entries.length > 0) && !entries.includes(MARKER)) {
        throw new CacheError(`${dir} is not a Permafrost cache (no ${MARKER})`);
      }
      if (readOnly && !entries.includes(ENV_FILE)) throw new CacheError(`${dir} has no ${ENV_FILE} yet: no run has written to it`);
      if (entries.includes(ENV_FILE)) checkEnvFile(dir);
    } else if (readOnly) {
      throw new CacheError(`${dir} does not exist`);
    }
    let writer: WriterRegistration | undefined;
    try {
      if (!readOnly) {
        mkdirSync(dir, { recursive: true });
        if (!existsSync(marker))
          writeFileSync(marker, `${JSON.stringify({ format: 'permafrost-cache', version: 1, created: new Date().toISOString() })}\n`);
      } else {
        JSON.parse(readFileSync(marker, 'utf8'));
      }
      // mapSize 0 read-only: LMDB takes the writer's map size from the file (stats report it)
      const env = open({ path: join(dir, ENV_FILE), maxDbs: 4, readOnly, compression: false, ...(readOnly ? { mapSize: 0 } : {}) });
      const values = env.openDB<Buffer, Buffer>({ name: 'activations', keyEncoding: 'binary', encoding: 'binary' });
      const meta = env.openDB<unknown, string>({ name: 'meta', encoding: 'json' });
      // lmdb-js hands back no handle (instead of an error) when the main tree is unreadable
      if (!values || !meta) {
        void env.close();
        throw corruptCache(dir, `the databases in ${ENV_FILE} cannot be opened (its main tree is damaged)`);
      }
      writer = readOnly ? undefined : registerWriter(dir, opts.writerRole ?? 'train');
      const cache = new ActivationCache(dir, env, values, meta, opts.codec ?? 'float32', readOnly, writer);
      cache.onError = opts.onError;
      return cache;
    } catch (e) {
      writer?.release();
      if (e instanceof CacheError) throw e;
      if (isLmdbDamage(e)) throw lmdbFailure(dir, `opening ${ENV_FILE}`, e);
      throw new CacheError(`cannot open the cache in ${dir}: ${(e as Error).message}`);
    }
  }

  /** Finds or creates the record of a fingerprint; ids are assigned in one write transaction. */
  register(info: FingerprintInfo): FingerprintHandle {
    const key = `fp:${info.fingerprint}`;
    const now = new Date().toISOString();
    const record = this.guard('registering a fingerprint', () =>
      this.env.transactionSync(() => {
        const existing = this.meta.get(key) as FingerprintRecord | undefined;
        if (existing) {
          // a run using a superseded fingerprint again makes it current: gc must keep it
          const { supersededBy: _, supersededAt: __, ...rest } = existing;
          const updated: FingerprintRecord = { ...rest, recipe: existing.recipe ?? info.recipe, lastUsed: now };
          this.meta.putSync(key, updated);
          return updated;
        }
        const id = (this.meta.get('next-id') as number | undefined) ?? 1;
        const created: FingerprintRecord = {
          ...info,
          id,
          entries: 0,
          bytes: 0,
          created: now,
          lastUsed: now,
          hits: 0,
          misses: 0,
          checksumFailures: 0,
        };
        this.meta.putSync('next-id', id + 1);
        this.meta.putSync(key, created);
        return created;
      }),
    );
    return { id: record.id, fingerprint: info.fingerprint, elements: info.shape.reduce((a, b) => a * b, 1) };
  }

  /** Reads one activation into dst[offset ..]; 'corrupt' means the bytes failed their checks. */
  get(h: FingerprintHandle, sampleId: number, dst: Float32Array, offset: number): Lookup {
    if (!this.healthy) return 'miss';
    let bytes: Buffer | undefined;
    try {
      // getBinaryFast hands back a reused buffer: decoded (copied) before the next read.
      bytes = this.values.getBinaryFast(activationKey(h.id, sampleId));
    } catch (e) {
      this.fail(lmdbFailure(this.dir, `reading sample ${sampleId}`, e));
      return 'miss';
    }
    if (bytes === undefined) return 'miss';
    const r = decodeInto(bytes, dst, offset, h.elements, { fingerprintId: h.id, sampleId });
    // an older format version is recomputed and overwritten like a miss, never counted as damage
    return r === 'ok' ? 'hit' : r === 'outdated' ? 'miss' : 'corrupt';
  }

  /**
   * Writes a batch of activations in one synchronous transaction and returns the bytes written
   * (0 once the cache has failed). Synchronous on purpose: a failed commit (full disk) throws
   * here, where it is caught and turned into one warning, instead of rejecting promises inside
   * lmdb-js that nothing can observe in time.
   */
  putMany(h: FingerprintHandle, entries: readonly (readonly [sampleId: number, values: Float32Array])[]): number {
    if (!this.healthy || entries.length === 0) return 0;
    const encoded = entries.map(
      ([id, v]) => [activationKey(h.id, id), encodeValue(v, this.codec, { fingerprintId: h.id, sampleId: id })] as const,
    );
    try {
      this.env.transactionSync(() => {
        for (const [key, value] of encoded) this.values.putSync(key, Buffer.from(value.buffer, value.byteOffset, value.length));
      });
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
      return 0;
    }
    return encoded.reduce((a, [, v]) => a + v.length, 0);
  }

  /** Runs an LMDB operation; an error that says the file is damaged becomes a corrupt CacheError. */
  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw isLmdbDamage(e) ? lmdbFailure(this.dir, what, e) : e;
    }
  }

  private fail(e: Error): void {
    if (!this.healthy) return;
    this.healthy = false;
    this.lastError = e;
    this.onError?.(e);
  }

  /** Waits until every write has been flushed to disk (or failed). */
  async flush(): Promise<void> {
    try {
      await this.values.flushed;
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** Adds a run's counters to the fingerprint's record. */
  recordUsage(h: FingerprintHandle, usage: CacheUsage): void {
    if (!this.healthy) return;
    try {
      const key = `fp:${h.fingerprint}`;
      this.env.transactionSync(() => {
        const r = this.meta.get(key) as FingerprintRecord | undefined;
        if (!r) return;
        this.meta.putSync(key, {
          ...r,
          hits: r.hits + usage.hits,
          misses: r.misses + usage.misses,
          checksumFailures: r.checksumFailures + usage.checksumFailures,
          entries: r.entries + usage.entriesAdded,
          bytes: r.bytes + usage.bytesAdded,
          lastUsed: new Date().toISOString(),
        });
      });
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /**
   * Records that a boundary advance replaced `oldFingerprint` by `newFingerprint`: `cache gc`
   * removes superseded fingerprints by default. Returns false when the old one is not in the cache.
   */
  markSuperseded(oldFingerprint: string, newFingerprint: string): boolean {
    if (oldFingerprint === newFingerprint) return false;
    const key = `fp:${oldFingerprint}`;
    return this.env.transactionSync(() => {
      const r = this.meta.get(key) as FingerprintRecord | undefined;
      if (!r) return false;
      this.meta.putSync(key, { ...r, supersededBy: newFingerprint, supersededAt: new Date().toISOString() });
      return true;
    });
  }

  /** The fingerprint records; a corrupt CacheError when LMDB cannot read them. */
  fingerprints(): FingerprintRecord[] {
    const out: FingerprintRecord[] = [];
    try {
      for (const { key, value } of this.meta.getRange({ start: 'fp:', end: 'fp;' })) {
        if (typeof key === 'string') out.push(value as FingerprintRecord);
      }
    } catch (e) {
      throw lmdbFailure(this.dir, 'reading the fingerprint records', e);
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** The stored size of one value under this cache's codec. */
  valueBytes(h: FingerprintHandle): number {
    return encodedBytes(this.codec, h.elements);
  }

  /** The sample ids stored under a fingerprint, in order (a key-only range scan), at most `limit`. */
  sampleIds(fingerprintId: number, limit?: number): number[] {
    const range = { ...fingerprintRange(fingerprintId), ...(limit === undefined ? {} : { limit }) };
    try {
      return Array.from(this.values.getKeys(range), (k) => parseKey(k).sampleId);
    } catch (e) {
      throw lmdbFailure(this.dir, `listing the entries of fingerprint ${fingerprintId}`, e);
    }
  }

  /** A copy of one stored value (header included), or undefined. */
  rawValue(fingerprintId: number, sampleId: number): Buffer | undefined {
    try {
      return this.values.getBinary(activationKey(fingerprintId, sampleId));
    } catch (e) {
      throw lmdbFailure(this.dir, `reading sample ${sampleId} of fingerprint ${fingerprintId}`, e);
    }
  }

  /** The LMDB handles for the lib's inspection and gc code. */
  get databases(): CacheDatabases {
    return { env: this.env, values: this.values, meta: this.meta };
  }

  /** This process's file in `writers/` while the cache is open for writing. */
  get writerFile(): string | undefined {
    return this.writer?.file;
  }

  /** The size of `cache.mdb` on disk, in bytes. */
  fileBytes(): number {
    return statSync(join(this.dir, ENV_FILE)).size;
  }

  async close(): Promise<void> {
    try {
      if (!this.readOnly) await this.flush();
      await this.env.close();
    } catch (e) {
      // closing a damaged environment must not turn a reported problem into a crash
      if (this.healthy) throw e;
    } finally {
      this.writer?.release();
    }
  }
}

/**
 * `cache gc`: removes the fingerprints nobody will read again, so their disk pages can be reused.
 *
 * What goes: fingerprints a boundary advance superseded (always, unless kept), fingerprints not
 * used for `olderThanMs` (only when asked), and orphaned entries (entries whose fingerprint
 * record is gone, left by a gc that was killed half-way). What stays: anything in `keep`, and
 * everything while a training run has the cache open for writing (writers.ts): gc then refuses.
 *
 * Each fingerprint's entries go in bounded write transactions (so a reader or a writer that
 * starts meanwhile waits for one short transaction, never for the whole gc), then its record. A
 * record that changed since the plan was made (a run started using it) is skipped. LMDB does not
 * shrink its file: the freed pages are reused by later writes; `compactTo` writes a compacted
 * copy of the environment elsewhere, which a user can swap in while nothing uses the cache.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ActivationCache, CacheError, ENV_FILE, MARKER } from './activation-cache';
import type { FingerprintRecord } from './fingerprint-record';
import { fingerprintRange, parseKey } from './keys';
import { listWriters, type WriterEntry } from './writers';

export interface GcOptions {
  /** also remove fingerprints whose last use is older than this (milliseconds) */
  olderThanMs?: number;
  /** full hex fingerprints that are never removed */
  keep?: readonly string[];
  /** report what would be removed; write nothing */
  dryRun?: boolean;
  /** entries deleted per write transaction */
  batchEntries?: number;
  /** write a compacted copy of the environment into this (new or empty) directory afterwards */
  compactTo?: string;
  /** the clock, for tests (ms since the epoch) */
  now?: number;
}

export type GcReason = 'superseded' | 'unused' | 'orphaned';

export interface GcItem {
  id: number;
  /** empty for orphaned entries (their record is gone) */
  fingerprint: string;
  reason: GcReason;
  model?: string;
  boundary?: string;
  lastUsed?: string;
  supersededBy?: string;
  entries: number;
  bytes: number;
}

export interface GcResult {
  dryRun: boolean;
  removed: GcItem[];
  /** items planned but left alone because a run started using them meanwhile */
  skipped: GcItem[];
  keptFingerprints: number;
  entriesDeleted: number;
  /** bytes of the values deleted (or that would be) */
  bytesReclaimed: number;
  /** the size of cache.mdb, which gc does not change */
  fileBytes: number;
  staleWritersRemoved: number;
  /** training runs writing the cache now (a dry run reports; a real gc refuses) */
  liveWriters: number;
  compactedTo?: { dir: string; fileBytes: number };
}

/** gc refused to run: a training run has the cache open for writing. */
export class GcRefusedError extends CacheError {}

export function refuseIfWritten(dir: string, ownFile?: string): number {
  const { live, stale } = listWriters(dir, { removeStale: true });
  const others = live.filter((w) => w.file !== ownFile);
  if (others.length > 0) {
    const who = others.map((w: WriterEntry) => `pid ${w.pid}${w.host ? ` on ${w.host}` : ''} (${w.role}, since ${w.started})`).join(', ');
    throw new GcRefusedError(`${dir} is being written by ${who}; run gc when no training run uses this cache`);
  }
  return stale.length;
}

function plan(records: readonly FingerprintRecord[], opts: GcOptions): { items: GcItem[]; kept: number } {
  const now = opts.now ?? Date.now();
  const keep = new Set(opts.keep ?? []);
  const items: GcItem[] = [];
  for (const r of records) {
    if (keep.has(r.fingerprint)) continue;
    const unused = opts.olderThanMs !== undefined && now - Date.parse(r.lastUsed) > opts.olderThanMs;
    const reason: GcReason | undefined = r.supersededBy !== undefined ? 'superseded' : unused ? 'unused' : undefined;
    if (!reason) continue;
    items.push({
      id: r.id,
      fingerprint: r.fingerprint,
      reason,
      model: r.model,
      boundary: r.boundary,
      lastUsed: r.lastUsed,
      supersededBy: r.supersededBy,
      entries: r.entries,
      bytes: r.bytes,
    });
  }
  return { items, kept: records.length - items.length };
}

/** Fingerprint ids that have entries but no record: one key lookup per id, not a full scan. */
function orphans(cache: ActivationCache, records: readonly FingerprintRecord[]): GcItem[] {
  const { values } = cache.databases;
  const known = new Set(records.map((r) => r.id));
  const out: GcItem[] = [];
  let start = fingerprintRange(0).start;
  for (;;) {
    const [first] = Array.from(values.getKeys({ start, limit: 1 }));
    if (first === undefined) break;
    const { fingerprintId } = parseKey(first);
    if (!known.has(fingerprintId)) {
      const range = fingerprintRange(fingerprintId);
      out.push({ id: fingerprintId, fingerprint: '', reason: 'orphaned', entries: values.getKeysCount(range), bytes: 0 });
    }
    if (fingerprintId === 0xffffffff) break;
    start = fingerprintRange(fingerprintId + 1).start;
  }
  return out;
}

/** Deletes one fingerprint's entries and record; false when its record changed since `item` was planned. */
function remove(
  cache: ActivationCache,
  item: GcItem,
  planned: FingerprintRecord | undefined,
  batch: number,
): { entries: number; bytes: number } | false {
  const { env, values, meta } = cache.databases;
  const range = fingerprintRange(item.id);
  const key = `fp:${item.fingerprint}`;
  const unchanged = () => {
    if (!planned) return true;
    const now = meta.get(key) as FingerprintRecord | undefined;
    return now !== undefined && now.lastUsed === planned.lastUsed && now.supersededBy === planned.supersededBy;
  };
  let entries = 0;
  let bytes = 0;
  for (;;) {
    const done = env.transactionSync(() => {
      if (!unchanged()) return 'changed' as const;
      const keys = Array.from(values.getKeys({ ...range, limit: batch }));
      for (const k of keys) {
        bytes += values.getBinaryFast(k)?.length ?? 0;
        values.removeSync(k);
      }
      entries += keys.length;
      if (keys.length < batch && planned) meta.removeSync(key);
      return keys.length < batch;
    });
    // entries already deleted from a record that changed are recomputed by its run as misses
    if (done === 'changed') return false;
    if (done) return { entries, bytes };
  }
}

export async function collectGarbage(dir: string, opts: GcOptions = {}): Promise<GcResult> {
  const batch = opts.batchEntries ?? 256;
  // a read-only open first: a missing directory or one that is not a cache is an error, never created
  const probe = ActivationCache.open(dir, { readOnly: true });
  await probe.close();
  let staleWritersRemoved = opts.dryRun ? 0 : refuseIfWritten(dir);
  const cache = ActivationCache.open(dir, { readOnly: opts.dryRun, writerRole: 'gc' });
  try {
    const records = cache.fingerprints();
    const { items, kept } = plan(records, opts);
    items.push(...orphans(cache, records));
    const removed: GcItem[] = [];
    const skipped: GcItem[] = [];
    if (opts.dryRun) {
      for (const item of items) {
        const bytes = item.reason === 'orphaned' ? 0 : item.bytes;
        removed.push({ ...item, bytes });
      }
    } else {
      const byId = new Map(records.map((r) => [r.id, r]));
      for (const item of items) {
        // a run that started since: stop before touching anything else
        staleWritersRemoved += refuseIfWritten(dir, cache.writerFile);
        const done = remove(cache, item, byId.get(item.id), batch);
        if (done === false) skipped.push(item);
        else removed.push({ ...item, entries: done.entries, bytes: done.bytes });
      }
    }
    let compactedTo: GcResult['compactedTo'];
    if (opts.compactTo && !opts.dryRun) {
      const target = join(opts.compactTo, ENV_FILE);
      if (existsSync(target)) throw new CacheError(`${target} exists; give a new or empty directory to compact into`);
      await cache.databases.env.backup(target, true);
      copyFileSync(join(dir, MARKER), join(opts.compactTo, MARKER));
      const copy = ActivationCache.open(opts.compactTo, { readOnly: true });
      compactedTo = { dir: opts.compactTo, fileBytes: copy.fileBytes() };
      await copy.close();
    }
    return {
      dryRun: opts.dryRun ?? false,
      removed,
      skipped,
      keptFingerprints: kept,
      entriesDeleted: removed.reduce((a, r) => a + r.entries, 0),
      bytesReclaimed: removed.reduce((a, r) => a + r.bytes, 0),
      fileBytes: cache.fileBytes(),
      staleWritersRemoved,
      liveWriters: listWriters(dir).live.filter((w) => w.file !== cache.writerFile).length,
      compactedTo,
    };
  } finally {
    await cache.close();
  }
}

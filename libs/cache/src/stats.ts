/**
 * `cache stats`: what a cache holds and what it costs. Two views that should agree: the
 * fingerprint records (entries and bytes the runs added, their hit/miss/checksum counters) and
 * LMDB's own B-tree statistics (entries actually stored, pages). Disk use is the file's size; LMDB
 * never shrinks its file, so pages freed by gc stay in it as free pages that later writes reuse.
 *
 * Free pages are counted as the file's pages that the current snapshot's trees do not use (the
 * file's page count minus the two meta pages and the pages of the main, free-list and named
 * databases). `mdb_stat -f` sums the free list's records instead, which also lists pages freed by
 * the latest transaction that the previous snapshot still uses, so its number can be a little higher.
 */
import type { ActivationCache } from './activation-cache';
import { listWriters, type WriterEntry } from './writers';

/** The subset of lmdb-js getStats() this file reads. */
interface TreeStats {
  pageSize: number;
  treeDepth: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  entryCount: number;
  overflowPages: number;
}

interface EnvStats extends TreeStats {
  mapSize: number;
  lastPageNumber: number;
  lastTxnId: number;
  maxReaders: number;
  numReaders: number;
  free: TreeStats;
}

export interface CacheStats {
  dir: string;
  fingerprints: number;
  superseded: number;
  /** entries and bytes as the fingerprint records count them */
  entries: number;
  bytes: number;
  /** entries LMDB holds in the activations database (equals `entries` unless a run crashed mid-epoch) */
  storedEntries: number;
  hits: number;
  misses: number;
  checksumFailures: number;
  lmdb: {
    fileBytes: number;
    mapSize: number;
    /** file bytes / map size: how close the next map resize is */
    mapUse: number;
    pageSize: number;
    pages: number;
    pagesInUse: number;
    freePages: number;
    freeBytes: number;
    lastTxnId: number;
    readers: number;
    maxReaders: number;
    activations: TreeSummary;
    meta: TreeSummary;
  };
  /** processes that hold the cache open for writing now */
  writers: Pick<WriterEntry, 'pid' | 'host' | 'role' | 'started' | 'command'>[];
}

export interface TreeSummary {
  entries: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
}

const pagesOf = (t: TreeStats) => t.treeBranchPageCount + t.treeLeafPageCount + t.overflowPages;
const summary = (t: TreeStats): TreeSummary => ({
  entries: t.entryCount,
  depth: t.treeDepth,
  branchPages: t.treeBranchPageCount,
  leafPages: t.treeLeafPageCount,
  overflowPages: t.overflowPages,
});

export function cacheStats(cache: ActivationCache): CacheStats {
  const { env, values, meta } = cache.databases;
  const records = cache.fingerprints();
  const root = env.getStats() as EnvStats;
  const acts = values.getStats() as TreeStats;
  const metaStats = meta.getStats() as TreeStats;
  const pages = root.lastPageNumber + 1;
  // two meta pages, then the main database (which names the others), the free list and ours
  const pagesInUse = Math.min(pages, 2 + pagesOf(root) + pagesOf(root.free) + pagesOf(acts) + pagesOf(metaStats));
  const fileBytes = cache.fileBytes();
  const sum = (k: 'entries' | 'bytes' | 'hits' | 'misses' | 'checksumFailures') => records.reduce((a, r) => a + (r[k] ?? 0), 0);
  return {
    dir: cache.dir,
    fingerprints: records.length,
    superseded: records.filter((r) => r.supersededBy !== undefined).length,
    entries: sum('entries'),
    bytes: sum('bytes'),
    storedEntries: acts.entryCount,
    hits: sum('hits'),
    misses: sum('misses'),
    checksumFailures: sum('checksumFailures'),
    lmdb: {
      fileBytes,
      mapSize: root.mapSize,
      mapUse: root.mapSize > 0 ? fileBytes / root.mapSize : Number.NaN,
      pageSize: root.pageSize,
      pages,
      pagesInUse,
      freePages: pages - pagesInUse,
      freeBytes: (pages - pagesInUse) * root.pageSize,
      lastTxnId: root.lastTxnId,
      readers: root.numReaders,
      maxReaders: root.maxReaders,
      activations: summary(acts),
      meta: summary(metaStats),
    },
    writers: listWriters(cache.dir).live.map(({ pid, host, role, started, command }) => ({ pid, host, role, started, command })),
  };
}

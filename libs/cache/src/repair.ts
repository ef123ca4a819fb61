/**
 * `cache repair`: salvages what is still readable from a damaged cache into a new environment.
 *
 * The damaged file is never mapped as it is: a truncated `cache.mdb` is first copied and padded
 * with zeros up to the length its meta pages claim (lmdb-file-check.ts), so every page LMDB can
 * reach exists and a page that was cut off reads as zeros, which LMDB rejects as a page of the
 * wrong type and the value checks reject as corrupt. Then each fingerprint's range is read in key
 * order; where LMDB fails (a damaged branch or leaf page), the scan restarts after the last good
 * key, skipping ahead 1, 2, 4, ... sample ids until a read succeeds again, so one bad page costs
 * only the entries on it. Every value is checked (keyed checksum, length, format) before it is
 * copied: only values that would be cache hits survive. Fingerprint ids stay the same, so the
 * keyed checksums stay valid.
 *
 * In place (the default), the repaired environment replaces `cache.mdb` and the damaged file is
 * kept beside it as `cache.mdb.damaged-<time>`; refused while a run writes the cache.
 */
import { closeSync, copyFileSync, existsSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, open } from 'lmdb';
import { ActivationCache, CacheError, ENV_FILE, MARKER } from './activation-cache';
import type { FingerprintRecord } from './fingerprint-record';
import { refuseIfWritten } from './gc';
import { activationKey, fingerprintRange, parseKey } from './keys';
import { checkLmdbFile } from './lmdb-file-check';
import { decodeInto } from './value-codec';

export interface RepairOptions {
  /** write the repaired cache into this new directory instead of replacing the damaged one */
  out?: string;
}

export interface RepairedFingerprint {
  id: number;
  fingerprint: string;
  /** entries the record said it had */
  recorded: number;
  kept: number;
}

export interface RepairResult {
  dir: string;
  /** where the repaired cache is */
  out: string;
  /** the damaged file, kept (in-place repair) */
  damagedFile?: string;
  /** what the damaged file's check found (truncation), if anything */
  fileProblem?: string;
  fingerprints: RepairedFingerprint[];
  keptEntries: number;
  /** values that were read but failed their checks, or an old format */
  droppedValues: number;
  /** places where LMDB could not read on (damaged pages) */
  unreadableRegions: number;
  /** fingerprint records that could not be read at all */
  recordsLost: boolean;
}

interface Source {
  values: Database<Buffer, Buffer>;
  meta: Database<unknown, string>;
  close(): Promise<void>;
}

/**
 * Extends a truncated copy to `requiredBytes` with empty leaf pages (page number, P_LEAF, no
 * nodes): LMDB asserts (and aborts the process) on a zeroed page it reaches by a cursor step, but
 * reads an empty leaf as a page without entries. A value whose overflow pages were cut off reads
 * as garbage there and fails its checks.
 */
function padWithEmptyLeaves(path: string, fileBytes: number, pageSize: number, requiredBytes: number): void {
  const fd = openSync(path, 'r+');
  try {
    const first = Math.ceil(fileBytes / pageSize);
    ftruncateSync(fd, first * pageSize);
    const page = Buffer.alloc(pageSize);
    for (let p = first; p * pageSize < requiredBytes; p++) {
      page.writeBigUInt64LE(BigInt(p), 0);
      page.writeUInt16LE(0x02, 18);
      page.writeUInt16LE(0, 20);
      page.writeUInt16LE(pageSize - 24, 22);
      writeSync(fd, page, 0, pageSize, p * pageSize);
    }
  } finally {
    closeSync(fd);
  }
}

/** Copies the damaged file into `staging`, padded to the length its metas claim, and opens the copy read-only. */
function openSalvageCopy(dir: string, staging: string): { source: Source | undefined; problem?: string } {
  mkdirSync(staging, { recursive: true });
  const copy = join(staging, ENV_FILE);
  copyFileSync(join(dir, ENV_FILE), copy);
  const check = checkLmdbFile(copy);
  if (!check.ok && check.meta) padWithEmptyLeaves(copy, check.fileBytes, check.meta.pageSize, check.meta.requiredBytes);
  else if (!check.ok) {
    return { source: undefined, problem: check.problem };
  }
  try {
    const env = open({ path: copy, maxDbs: 4, readOnly: true, compression: false, mapSize: 0 });
    const values = env.openDB<Buffer, Buffer>({ name: 'activations', keyEncoding: 'binary', encoding: 'binary' });
    const meta = env.openDB<unknown, string>({ name: 'meta', encoding: 'json' });
    if (!values || !meta) {
      void env.close();
      return { source: undefined, problem: check.problem ?? 'the main tree is damaged' };
    }
    return { source: { values, meta, close: () => env.close() }, problem: check.problem };
  } catch (e) {
    return { source: undefined, problem: `${check.problem ? `${check.problem}; ` : ''}${(e as Error).message}` };
  }
}

/** The readable fingerprint records (a damaged meta page loses the records on it). */
function readRecords(meta: Database<unknown, string>): { records: FingerprintRecord[]; nextId: number; lost: boolean } {
  const records: FingerprintRecord[] = [];
  let lost = false;
  try {
    for (const { key, value } of meta.getRange({ start: 'fp:', end: 'fp;' })) {
      const r = value as FingerprintRecord;
      if (typeof key === 'string' && Number.isInteger(r?.id) && Array.isArray(r?.shape)) records.push(r);
    }
  } catch {
    lost = true;
  }
  let nextId = 1 + Math.max(0, ...records.map((r) => r.id));
  try {
    nextId = Math.max(nextId, (meta.get('next-id') as number | undefined) ?? 0);
  } catch {
    lost = true;
  }
  return { records, nextId, lost };
}

/** Whether a scan of fingerprint `id` from sample `start` reads an entry without an LMDB error. */
function readableFrom(values: Database<Buffer, Buffer>, id: number, start: number): boolean {
  try {
    for (const { key } of values.getRange({ start: activationKey(id, start), end: fingerprintRange(id).end, limit: 1 })) {
      const k = parseKey(key);
      return k.fingerprintId === id && k.sampleId >= start;
    }
    return false;
  } catch {
    // LMDB marks a read transaction that hit a damaged page as failed: the next read needs a new one
    values.resetReadTxn();
    return false;
  }
}

/**
 * The smallest sample id after `from` from which a scan reads an entry again: probes `from` + 1,
 * 2, 4, ... until one reads, then bisects back, so a damaged page costs only the entries on it.
 * undefined when nothing after `from` reads.
 */
function resumePoint(values: Database<Buffer, Buffer>, id: number, from: number): number | undefined {
  let bad = from;
  let step = 1;
  let good: number | undefined;
  while (bad + step <= 0xffffffff) {
    if (readableFrom(values, id, bad + step)) {
      good = bad + step;
      break;
    }
    bad += step;
    step *= 2;
  }
  if (good === undefined) return undefined;
  let hi: number = good;
  while (hi - bad > 1) {
    const mid = bad + Math.floor((hi - bad) / 2);
    if (readableFrom(values, id, mid)) hi = mid;
    else bad = mid;
  }
  return hi;
}

/**
 * Calls `keep` for each readable entry of fingerprint `id`, in key order, stepping over what LMDB
 * cannot read. A damaged page can also end a scan early without an error, so every scan is
 * followed by a probe for readable entries beyond it. Returns the number of unreadable regions.
 */
function salvageRange(values: Database<Buffer, Buffer>, id: number, keep: (sampleId: number, value: Buffer) => void): number {
  const end = fingerprintRange(id).end;
  let next: number | undefined = 0;
  let regions = 0;
  while (next !== undefined) {
    const from: number = next;
    let failed = false;
    try {
      for (const { key, value } of values.getRange({ start: activationKey(id, from), end })) {
        const k = parseKey(key);
        // keys from a damaged leaf can be out of order or out of range: stop trusting this scan
        if (k.fingerprintId !== id || k.sampleId < (next as number)) throw new Error('keys out of order');
        keep(k.sampleId, Buffer.from(value));
        next = k.sampleId + 1;
      }
    } catch {
      values.resetReadTxn();
      failed = true;
    }
    const resume: number | undefined =
      next === 0 && !readableFrom(values, id, 0) ? resumePoint(values, id, 0) : resumePoint(values, id, (next as number) - 1);
    if (failed || (resume !== undefined && resume > (next as number))) regions++;
    if (resume !== undefined && resume < (next as number)) break; // nothing new: the scan already read it
    next = resume;
  }
  return regions;
}

export async function repairCache(dir: string, opts: RepairOptions = {}): Promise<RepairResult> {
  if (!existsSync(join(dir, MARKER))) throw new CacheError(`${dir} is not a Permafrost cache (no ${MARKER})`);
  if (!existsSync(join(dir, ENV_FILE))) throw new CacheError(`${dir} has no ${ENV_FILE}: nothing to repair`);
  refuseIfWritten(dir);
  const inPlace = opts.out === undefined;
  const out = opts.out ?? join(dir, `.repair-${process.pid}`);
  if (existsSync(out) && !inPlace) throw new CacheError(`${out} exists; give a new directory to repair into`);
  // the padded copy of the damaged file: beside the cache (in place) or beside the new directory
  const staging = inPlace ? join(dir, `.salvage-${process.pid}`) : `${out}.salvage-${process.pid}`;
  const { source, problem } = openSalvageCopy(dir, staging);
  try {
    const result: RepairResult = {
      dir,
      out: inPlace ? dir : out,
      fileProblem: problem,
      fingerprints: [],
      keptEntries: 0,
      droppedValues: 0,
      unreadableRegions: 0,
      recordsLost: source === undefined,
    };
    const target = ActivationCache.open(out, { writerRole: 'repair' });
    try {
      if (source) copyEntries(source, target, result);
    } finally {
      await target.close();
    }
    if (inPlace) result.damagedFile = swapIn(dir, out);
    return result;
  } finally {
    await source?.close();
    rmSync(staging, { recursive: true, force: true });
    if (inPlace) rmSync(out, { recursive: true, force: true });
  }
}

function copyEntries(source: Source, target: ActivationCache, result: RepairResult): void {
  const { records, nextId, lost } = readRecords(source.meta);
  result.recordsLost = lost;
  const { env, values, meta } = target.databases;
  for (const r of records) {
    const elements = r.shape.reduce((a, b) => a * b, 1);
    const row = new Float32Array(elements);
    let kept = 0;
    let bytes = 0;
    const batch: [Buffer, Buffer][] = [];
    const flush = () => {
      env.transactionSync(() => {
        for (const [k, v] of batch) values.putSync(k, v);
      });
      batch.length = 0;
    };
    result.unreadableRegions += salvageRange(source.values, r.id, (sampleId, value) => {
      if (decodeInto(value, row, 0, elements, { fingerprintId: r.id, sampleId }) !== 'ok') {
        result.droppedValues++;
        return;
      }
      batch.push([activationKey(r.id, sampleId), value]);
      kept++;
      bytes += value.length;
      if (batch.length >= 256) flush();
    });
    flush();
    env.transactionSync(() => meta.putSync(`fp:${r.fingerprint}`, { ...r, entries: kept, bytes }));
    result.fingerprints.push({ id: r.id, fingerprint: r.fingerprint, recorded: r.entries, kept });
    result.keptEntries += kept;
  }
  env.transactionSync(() => meta.putSync('next-id', nextId));
}

/** Moves the repaired environment in `staged` into `dir`, keeping the damaged file; returns its new path. */
function swapIn(dir: string, staged: string): string {
  const damaged = join(dir, `${ENV_FILE}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  renameSync(join(dir, ENV_FILE), damaged);
  rmSync(join(dir, `${ENV_FILE}-lock`), { force: true });
  renameSync(join(staged, ENV_FILE), join(dir, ENV_FILE));
  if (statSync(join(dir, ENV_FILE)).size === 0) throw new CacheError(`the repaired ${ENV_FILE} is empty`);
  return damaged;
}

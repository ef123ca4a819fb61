/**
 * `cache repair`: salvages what is still readable from a damaged cache into a new environment.
 *
 * LMDB never maps the damaged file: its pages are read with plain fs by the same walk that checks
 * a cache at open (lmdb-tree-check.ts, salvage mode), which hands out every entry of the
 * `activations` and `meta` databases it can reach and steps over damaged subtrees and pages past
 * the end of a truncated file, so one bad page costs only the entries below it. Every value is
 * checked (keyed checksum, length, format version) against its fingerprint's record before it is
 * copied: only values that would be cache hits survive, and entries whose record is lost go too.
 * Fingerprint ids stay the same, so the keyed checksums stay valid.
 *
 * In place (the default), the repaired environment replaces `cache.mdb` and the damaged file is
 * kept beside it as `cache.mdb.damaged-<time>`; refused while a run writes the cache.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ActivationCache, CacheError, ENV_FILE, MARKER } from './activation-cache';
import type { FingerprintRecord } from './fingerprint-record';
import { refuseIfWritten } from './gc';
import { activationKey, KEY_BYTES, parseKey } from './keys';
import { salvageLmdbEntries } from './lmdb-tree-check';
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
  fingerprints: RepairedFingerprint[];
  keptEntries: number;
  /** values that were read but failed their checks, are of an older format, or lost their record */
  droppedValues: number;
  /** damaged subtrees or entries stepped over, as the walk found them (the first few) */
  damage: string[];
  damageCount: number;
}

interface Salvaged {
  records: FingerprintRecord[];
  nextId: number;
  values: Map<number, [sampleId: number, value: Buffer][]>;
  damage: string[];
}

function isRecord(v: unknown): v is FingerprintRecord {
  const r = v as FingerprintRecord;
  return typeof r === 'object' && r !== null && Number.isInteger(r.id) && typeof r.fingerprint === 'string' && Array.isArray(r.shape);
}

/** Reads every reachable entry of the damaged file. */
function salvage(file: string): Salvaged {
  const out: Salvaged = { records: [], nextId: 1, values: new Map(), damage: [] };
  const walk = salvageLmdbEntries(file, (db, key, value) => {
    if (db === 'activations' && key.length === KEY_BYTES) {
      const { fingerprintId, sampleId } = parseKey(key);
      const list = out.values.get(fingerprintId) ?? [];
      if (list.length === 0) out.values.set(fingerprintId, list);
      list.push([sampleId, value]);
    } else if (db === 'meta') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value.toString('utf8'));
      } catch {
        return; // a damaged record: its entries go with it
      }
      if (isRecord(parsed)) out.records.push(parsed);
      else if (typeof parsed === 'number' && key.toString('utf8').endsWith('next-id')) out.nextId = Math.max(out.nextId, parsed);
    }
  });
  if (walk.problem)
    throw new CacheError(`cannot repair ${file}: ${walk.problem}; nothing in it can be read, delete its directory`, { corrupt: true });
  out.damage = walk.skipped;
  out.nextId = Math.max(out.nextId, 1 + Math.max(0, ...out.records.map((r) => r.id)));
  return out;
}

function writeSalvaged(found: Salvaged, target: ActivationCache, result: RepairResult): void {
  const { env, values, meta } = target.databases;
  const byId = new Map(found.records.map((r) => [r.id, r]));
  for (const [id, entries] of found.values) if (!byId.has(id)) result.droppedValues += entries.length;
  for (const r of found.records) {
    const elements = r.shape.reduce((a, b) => a * b, 1);
    const row = new Float32Array(elements);
    const good = (found.values.get(r.id) ?? []).filter(([sampleId, value]) => {
      const ok = decodeInto(value, row, 0, elements, { fingerprintId: r.id, sampleId }) === 'ok';
      if (!ok) result.droppedValues++;
      return ok;
    });
    for (let at = 0; at < good.length; at += 256) {
      env.transactionSync(() => {
        for (const [sampleId, value] of good.slice(at, at + 256)) values.putSync(activationKey(r.id, sampleId), value);
      });
    }
    const bytes = good.reduce((a, [, v]) => a + v.length, 0);
    env.transactionSync(() => meta.putSync(`fp:${r.fingerprint}`, { ...r, entries: good.length, bytes }));
    result.fingerprints.push({ id: r.id, fingerprint: r.fingerprint, recorded: r.entries, kept: good.length });
    result.keptEntries += good.length;
  }
  env.transactionSync(() => meta.putSync('next-id', found.nextId));
}

export async function repairCache(dir: string, opts: RepairOptions = {}): Promise<RepairResult> {
  if (!existsSync(join(dir, MARKER))) throw new CacheError(`${dir} is not a Permafrost cache (no ${MARKER})`);
  if (!existsSync(join(dir, ENV_FILE))) throw new CacheError(`${dir} has no ${ENV_FILE}: nothing to repair`);
  refuseIfWritten(dir);
  const inPlace = opts.out === undefined;
  const out = opts.out ?? join(dir, `.repair-${process.pid}`);
  if (!inPlace && existsSync(out)) throw new CacheError(`${out} exists; give a new directory to repair into`);
  const found = salvage(join(dir, ENV_FILE));
  const result: RepairResult = {
    dir,
    out: inPlace ? dir : out,
    fingerprints: [],
    keptEntries: 0,
    droppedValues: 0,
    damage: found.damage.slice(0, 10),
    damageCount: found.damage.length,
  };
  try {
    const target = ActivationCache.open(out, { writerRole: 'repair' });
    try {
      writeSalvaged(found, target, result);
    } finally {
      await target.close();
    }
    if (inPlace) result.damagedFile = swapIn(dir, out);
    return result;
  } finally {
    if (inPlace) rmSync(out, { recursive: true, force: true });
  }
}

/** Moves the repaired environment in `staged` into `dir`, keeping the damaged file; returns its new path. */
function swapIn(dir: string, staged: string): string {
  const damaged = join(dir, `${ENV_FILE}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  renameSync(join(dir, ENV_FILE), damaged);
  rmSync(join(dir, `${ENV_FILE}-lock`), { force: true });
  renameSync(join(staged, ENV_FILE), join(dir, ENV_FILE));
  return damaged;
}

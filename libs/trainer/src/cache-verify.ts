/**
 * `cache verify`: trust, but check. Rebuilds a fingerprint's frozen prefix and dataset (from the
 * recipe in its record, or from a job spec), and then
 *
 *  1. compares the rebuilt prefix's fingerprint with the stored one: if they differ, the model
 *     or the dataset changed since the entries were written, and the entries are stale (the
 *     fields that changed are named);
 *  2. checks each selected entry's checksum (a failure is a corrupt entry);
 *  3. recomputes the selected entries and compares them with the stored values.
 *
 * A recomputed value matches when every element is within atol + rtol * |recomputed|, with atol
 * relative to the entry's largest magnitude: exact recomputation on the same backend gives 0, a
 * different backend (wasm vs native) a few float32 ulps, a float16 value its rounding (2^-11).
 * The relative difference reported is max |stored - recomputed| / max |recomputed| per entry.
 */
import type { ActivationCache, FingerprintRecord } from '@permafrost/cache';
import { findFingerprint, inspectValue } from '@permafrost/cache';
import { augmentBatch, type Dataset, preprocess, seededRandom } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import type { JobSpec } from '@permafrost/job';
import { type Assembled, assemble } from '@permafrost/model';
import { UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import { viewTag, viewTransform } from './augment-lanes';
import { type PrefixFingerprint, prefixFingerprint } from './cache-setup';
import { jobFromRecipe } from './prefix-recipe';
import { augmentOf, openJobDataset } from './run-setup';
import type { InputTransform } from './upstream';

/** samples per prefix call */
const SLICE = 32;
const TOLERANCE = { float32: { rtol: 1e-4, atol: 1e-5 }, float16: { rtol: 2e-3, atol: 1e-3 } } as const;

export type VerifySelection = { all: true } | { count: number } | { fraction: number };

export interface VerifyOptions {
  /** which entries to recompute; a seeded draw when not all */
  select: VerifySelection;
  seed?: number;
}

export type VerifyStatus = 'ok' | 'stale' | 'corrupt' | 'mismatch';

export interface VerifyReport {
  id: number;
  fingerprint: string;
  status: VerifyStatus;
  /** the fingerprint of the rebuilt prefix */
  rebuiltFingerprint: string;
  /** what differs between the rebuilt prefix and the record, when stale */
  changed: string[];
  storedEntries: number;
  checked: number;
  /** sample ids whose stored value failed its checksum (or header/length check) */
  corrupt: number[];
  /** entries in an older value format: not checked, recomputed by the next run that reads them */
  outdated: number;
  /** sample ids whose stored value differs from the recomputed one beyond the tolerance */
  mismatched: number[];
  maxAbsDiff: number;
  maxRelDiff: number;
}

export interface RebuiltPrefix {
  model: Assembled;
  dataset: Dataset;
  identity: PrefixFingerprint;
  /** an augmented view's transforms (the recipe's `view` of its data.augment) */
  transform?: InputTransform;
  dispose(): Promise<void>;
}

/** Builds a job's frozen prefix (of augmented view `view`, if given) and opens its dataset; the caller disposes it. */
export async function rebuildPrefix(job: JobSpec, view?: number): Promise<RebuiltPrefix> {
  await initEngine(job.train.backend);
  const dataset = await openJobDataset(job);
  try {
    const model = await assemble(job.model, job.freeze, dataset.numClasses, job.train.seed);
    const augment = view === undefined ? undefined : job.data.augment && augmentOf(job.data.augment, 0).spec;
    const seed = job.train.seed;
    return {
      model,
      dataset,
      identity: prefixFingerprint(model, dataset, augment && viewTag(augment, seed, view as number)),
      ...(augment ? { transform: viewTransform(augment, seed, view as number) } : {}),
      dispose: async () => {
        model.full.dispose();
        await dataset.close();
      },
    };
  } catch (e) {
    await dataset.close();
    throw e;
  }
}

/** The fingerprint a job's cached activations would have (`cache ls --config`). */
export async function jobFingerprint(job: JobSpec): Promise<string> {
  const rebuilt = await rebuildPrefix(job);
  await rebuilt.dispose();
  return rebuilt.identity.fingerprint;
}

function changedFields(record: FingerprintRecord, rebuilt: RebuiltPrefix): string[] {
  const now = { ...rebuilt.identity, boundary: rebuilt.model.boundary, datasetId: rebuilt.dataset.id };
  const fields: [keyof typeof now & keyof FingerprintRecord, string][] = [
    ['topologyHash', 'prefix topology'],
    ['weightsHash', 'prefix weights'],
    ['boundary', 'boundary'],
    ['preprocess', 'preprocessing'],
    ['datasetId', 'dataset'],
    ['augment', 'augmented view'],
  ];
  const show = (v: unknown) => (typeof v === 'string' && /^[0-9a-f]{32,}$/.test(v) ? v.slice(0, 12) : String(v));
  return fields.filter(([k]) => record[k] !== now[k]).map(([k, what]) => `${what} ${show(record[k])} -> ${show(now[k])}`);
}

function pick(ids: number[], select: VerifySelection, seed: number): number[] {
  const want = 'all' in select ? ids.length : 'count' in select ? select.count : Math.ceil(select.fraction * ids.length);
  if (want >= ids.length) return ids;
  // a partial Fisher-Yates shuffle: `want` distinct ids, the same ones for the same seed
  const a = [...ids];
  const rand = seededRandom(seed);
  for (let i = 0; i < want; i++) {
    const j = i + Math.floor(rand() * (a.length - i));
    [a[i], a[j]] = [a[j] as number, a[i] as number];
  }
  return a.slice(0, want).sort((x, y) => x - y);
}

interface StoredEntry {
  id: number;
  values: Float32Array;
  codec: 'float32' | 'float16';
}

/** The stored values of `ids` that pass their checks; the rest are counted in `report`. */
function readStored(cache: ActivationCache, record: FingerprintRecord, ids: number[], report: VerifyReport): StoredEntry[] {
  const elements = record.shape.reduce((a, b) => a * b, 1);
  const good: StoredEntry[] = [];
  for (const id of ids) {
    const bytes = cache.rawValue(record.id, id);
    if (bytes === undefined) continue; // removed since the listing (a gc)
    const check = inspectValue(bytes, elements, { fingerprintId: record.id, sampleId: id });
    if (check.outdated) report.outdated++;
    else if (check.ok && check.values && check.codec) good.push({ id, values: check.values, codec: check.codec });
    else report.corrupt.push(id);
  }
  return good;
}

/** Compares a stored entry with its recomputed value `ref`, adding the result to `report`. */
function compare(report: VerifyReport, g: StoredEntry, ref: Float32Array): void {
  let scale = 0;
  for (const v of ref) scale = Math.max(scale, Math.abs(v));
  const { rtol, atol } = TOLERANCE[g.codec];
  let maxAbs = 0;
  let bad = false;
  for (let k = 0; k < ref.length; k++) {
    const r = ref[k] as number;
    const d = Math.abs((g.values[k] as number) - r);
    if (!(d <= atol * Math.max(scale, 1e-30) + rtol * Math.abs(r))) bad = true;
    if (!(d <= maxAbs)) maxAbs = d;
  }
  if (bad) report.mismatched.push(g.id);
  report.maxAbsDiff = Math.max(report.maxAbsDiff, maxAbs);
  report.maxRelDiff = Math.max(report.maxRelDiff, scale > 0 ? maxAbs / scale : maxAbs > 0 ? Number.POSITIVE_INFINITY : 0);
}

export async function verifyFingerprint(
  cache: ActivationCache,
  record: FingerprintRecord,
  rebuilt: RebuiltPrefix,
  opts: VerifyOptions,
): Promise<VerifyReport> {
  const all = cache.sampleIds(record.id);
  const ids = pick(all, opts.select, opts.seed ?? 0);
  const elements = record.shape.reduce((a, b) => a * b, 1);
  const changed = rebuilt.identity.fingerprint === record.fingerprint ? [] : changedFields(record, rebuilt);
  const report: VerifyReport = {
    id: record.id,
    fingerprint: record.fingerprint,
    status: 'ok',
    rebuiltFingerprint: rebuilt.identity.fingerprint,
    changed,
    storedEntries: all.length,
    checked: 0,
    corrupt: [],
    outdated: 0,
    mismatched: [],
    maxAbsDiff: 0,
    maxRelDiff: 0,
  };
  const stale = rebuilt.identity.fingerprint !== record.fingerprint;
  for (let at = 0; at < ids.length; at += SLICE) {
    const good = readStored(cache, record, ids.slice(at, at + SLICE), report);
    report.checked += good.length;
    // a stale prefix computes something else: comparing values would only repeat that
    if (stale || good.length === 0) continue;
    const raw = await rebuilt.dataset.read(
      good.map((g) => g.id),
      { sizePx: rebuilt.model.input.sizePx },
    );
    const input = rebuilt.transform ? augmentBatch(raw, rebuilt.transform(raw.ids)) : raw;
    const acts = tf.tidy(
      () => rebuilt.model.prefix.predict(preprocess(input, rebuilt.model.input), { batchSize: good.length }) as tf.Tensor,
    );
    const fresh = (await acts.data()) as Float32Array;
    acts.dispose();
    for (const [i, g] of good.entries()) compare(report, g, fresh.subarray(i * elements, (i + 1) * elements));
    await new Promise<void>((r) => setImmediate(r));
  }
  report.status = stale ? 'stale' : report.corrupt.length > 0 ? 'corrupt' : report.mismatched.length > 0 ? 'mismatch' : 'ok';
  return report;
}

export interface VerifyCacheOptions extends VerifyOptions {
  /** one fingerprint (id or hex prefix); default: the job's, or every one */
  ref?: string;
  /** rebuild from this job instead of each record's recipe */
  job?: JobSpec;
  /** the backend a recipe's prefix is rebuilt on */
  backend?: JobSpec['train']['backend'];
  /** called with each fingerprint's report as soon as it is done */
  onReport?: (r: VerifyReport) => void;
}

export interface VerifyCacheResult {
  reports: VerifyReport[];
  /** fingerprints that could not be rebuilt (records of older versions without a recipe) */
  skipped: { id: number; fingerprint: string; reason: string }[];
}

/** Verifies the fingerprints `opts` names, one rebuilt prefix at a time. */
export async function verifyCache(cache: ActivationCache, opts: VerifyCacheOptions): Promise<VerifyCacheResult> {
  const records = cache.fingerprints();
  let targets = records;
  if (opts.ref !== undefined) targets = [findFingerprint(records, opts.ref)];
  else if (opts.job) {
    const fp = await jobFingerprint(opts.job);
    const mine = records.find((r) => r.fingerprint === fp);
    if (!mine) throw new UserError(`the job's fingerprint ${fp.slice(0, 12)} is not in ${cache.dir} (see cache ls)`, '--config');
    targets = [mine];
  }
  const result: VerifyCacheResult = { reports: [], skipped: [] };
  for (const r of targets) {
    if (!opts.job && !r.recipe) {
      const reason =
        'no rebuild recipe in its record (written by an older version, or by a FreezeOut boundary advance: that prefix holds blocks trained in the run); give --config';
      if (opts.ref !== undefined) throw new UserError(`fingerprint ${r.id} was ${reason}`);
      result.skipped.push({ id: r.id, fingerprint: r.fingerprint, reason });
      continue;
    }
    const job = opts.job ?? jobFromRecipe(r.recipe as NonNullable<FingerprintRecord['recipe']>, r.boundary, opts.backend);
    const rebuilt = await rebuildPrefix(job, opts.job ? undefined : r.recipe?.view);
    try {
      const report = await verifyFingerprint(cache, r, rebuilt, opts);
      result.reports.push(report);
      opts.onReport?.(report);
    } finally {
      await rebuilt.dispose();
    }
  }
  return result;
}

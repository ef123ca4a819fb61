/**
 * Reading a cache for people: which fingerprints it holds (`cache ls`), finding one by the short
 * names people type (a hex prefix or the numeric id), and what one stored activation looks like
 * (`cache show`). Everything here only reads; it works on a read-only open while a run writes.
 */
import { type ActivationCache, CacheError } from './activation-cache';
import type { FingerprintRecord } from './fingerprint-record';
import { type Codec, inspectValue } from './value-codec';

export interface FingerprintRow {
  id: number;
  fingerprint: string;
  model: string;
  boundary: string;
  dataset: string;
  inputSize: number;
  shape: number[];
  dtype: string;
  entries: number;
  bytes: number;
  created: string;
  lastUsed: string;
  supersededBy: string | undefined;
  /** an augmented view's tag (`cache.views`); undefined: the input as decoded */
  augment: string | undefined;
  /** whether this is the fingerprint of the job given to `cache ls --config` (undefined: no job) */
  current: boolean | undefined;
}

export function fingerprintRows(records: readonly FingerprintRecord[], currentFingerprint?: string): FingerprintRow[] {
  return records.map((r) => ({
    id: r.id,
    fingerprint: r.fingerprint,
    model: r.model,
    boundary: r.boundary,
    dataset: r.dataset,
    inputSize: r.inputSize,
    shape: r.shape,
    dtype: r.dtype,
    entries: r.entries,
    bytes: r.bytes,
    created: r.created,
    lastUsed: r.lastUsed,
    supersededBy: r.supersededBy,
    augment: r.augment,
    current: currentFingerprint === undefined ? undefined : r.fingerprint === currentFingerprint,
  }));
}

/**
 * The record a user means by `ref`: the numeric id, or a prefix of the hex fingerprint that only
 * one record starts with. Throws CacheError naming the candidates when it is ambiguous.
 */
export function findFingerprint(records: readonly FingerprintRecord[], ref: string): FingerprintRecord {
  const text = ref.trim().toLowerCase();
  if (/^\d+$/.test(text)) {
    const byId = records.find((r) => r.id === Number(text));
    if (byId) return byId;
  }
  if (!/^[0-9a-f]+$/.test(text)) throw new CacheError(`'${ref}' is neither a fingerprint id nor a hex fingerprint prefix`);
  const matches = records.filter((r) => r.fingerprint.startsWith(text));
  if (matches.length === 1) return matches[0] as FingerprintRecord;
  if (matches.length === 0) {
    const known = records.map((r) => `${r.id} (${r.fingerprint.slice(0, 12)})`).join(', ');
    throw new CacheError(`no fingerprint '${ref}' in this cache (it holds ${known || 'none'})`);
  }
  throw new CacheError(
    `'${ref}' matches ${matches.length} fingerprints (${matches.map((r) => r.fingerprint.slice(0, 12)).join(', ')}); give more digits`,
  );
}

export interface ValueSummary {
  elements: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** fraction of exact zeros (a ReLU output's sparsity) */
  zeroFraction: number;
  /** NaN and infinite values, which are left out of min/max/mean/std */
  nonFinite: number;
}

export function summarize(values: Float32Array): ValueSummary {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let zeros = 0;
  let finite = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    finite++;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v === 0) zeros++;
    sum += v;
  }
  const mean = finite > 0 ? sum / finite : Number.NaN;
  let sq = 0;
  for (const v of values) if (Number.isFinite(v)) sq += (v - mean) * (v - mean);
  return {
    elements: values.length,
    min: finite > 0 ? min : Number.NaN,
    max: finite > 0 ? max : Number.NaN,
    mean,
    std: finite > 0 ? Math.sqrt(sq / finite) : Number.NaN,
    zeroFraction: values.length > 0 ? zeros / values.length : Number.NaN,
    nonFinite: values.length - finite,
  };
}

export interface EntryView {
  fingerprint: string;
  fingerprintId: number;
  sampleId: number;
  shape: number[];
  codec: Codec | undefined;
  storedBytes: number;
  checksum: 'ok' | 'failed';
  /** what is wrong when the checksum (or the header, or the length) failed */
  problem: string | undefined;
  summary: ValueSummary | undefined;
  /** the decoded values (also for a checksum failure, so a person can look at them) */
  values: Float32Array | undefined;
}

/** One stored activation, decoded and summarised. Throws CacheError when the sample is not cached. */
export function showEntry(cache: ActivationCache, record: FingerprintRecord, sampleId: number): EntryView {
  const bytes = cache.rawValue(record.id, sampleId);
  if (bytes === undefined) {
    const some = cache.sampleIds(record.id, 6);
    const held =
      some.length === 0 ? 'it has no entries' : `it holds samples ${some.slice(0, 5).join(', ')}${some.length > 5 ? ', ...' : ''}`;
    throw new CacheError(`sample ${sampleId} is not cached under fingerprint ${record.id} (${record.fingerprint.slice(0, 12)}); ${held}`);
  }
  const elements = record.shape.reduce((a, b) => a * b, 1);
  const check = inspectValue(bytes, elements, { fingerprintId: record.id, sampleId });
  return {
    fingerprint: record.fingerprint,
    fingerprintId: record.id,
    sampleId,
    shape: record.shape,
    codec: check.codec,
    storedBytes: bytes.length,
    checksum: check.ok ? 'ok' : 'failed',
    problem: check.problem,
    summary: check.values && summarize(check.values),
    values: check.values,
  };
}

/**
 * `cache export`: one fingerprint's activations and their sample ids in files that standard tools
 * read (NumPy's `np.load`, the `safetensors` package), plus `fingerprint.json` (its record). Rows
 * are in sample-id order, decoded to float32 whatever the stored codec. The entries are read in
 * one read transaction, so the export is a consistent snapshot even while a run writes, and are
 * streamed to disk one row at a time. Entries that fail their checksum are left out and named.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActivationCache } from './activation-cache';
import { npySink } from './export-npy';
import { safetensorsSink } from './export-safetensors';
import type { FingerprintRecord } from './fingerprint-record';
import { fingerprintRange, parseKey } from './keys';
import { decodeValue } from './value-codec';

export type ExportFormat = 'npy' | 'safetensors';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['npy', 'safetensors'];

export interface ExportResult {
  fingerprint: string;
  id: number;
  format: ExportFormat;
  files: string[];
  rows: number;
  /** the shape of the activations array: [rows, ...the fingerprint's shape] */
  shape: number[];
  dtype: 'float32';
  /** sample ids left out because their values failed the checksum */
  corrupt: number[];
}

export function exportFingerprint(cache: ActivationCache, record: FingerprintRecord, outDir: string, format: ExportFormat): ExportResult {
  mkdirSync(outDir, { recursive: true });
  const sink =
    format === 'npy'
      ? npySink(outDir)
      : safetensorsSink(outDir, {
          format: 'permafrost-activations',
          fingerprint: record.fingerprint,
          model: record.model,
          boundary: record.boundary,
          dataset: record.dataset,
        });
  const { env, values } = cache.databases;
  const elements = record.shape.reduce((a, b) => a * b, 1);
  const row = new Float32Array(elements);
  const ids: number[] = [];
  const corrupt: number[] = [];
  const txn = env.useReadTransaction();
  let files: string[];
  try {
    // a fresh options object per call: lmdb-js writes into the one it is given
    const range = () => ({ ...fingerprintRange(record.id), transaction: txn });
    sink.begin(values.getKeysCount(range()), record.shape);
    for (const { key, value } of values.getRange(range())) {
      const { sampleId } = parseKey(key);
      if (decodeValue(value, row, 0, elements, { fingerprintId: record.id, sampleId })) {
        sink.row(row);
        ids.push(sampleId);
      } else {
        corrupt.push(sampleId);
      }
    }
    files = sink.finish(ids);
  } catch (e) {
    sink.abort();
    throw e;
  } finally {
    txn.done();
  }
  const meta = join(outDir, 'fingerprint.json');
  writeFileSync(meta, `${JSON.stringify(record, null, 2)}\n`);
  return {
    fingerprint: record.fingerprint,
    id: record.id,
    format,
    files: [...files, meta],
    rows: ids.length,
    shape: [ids.length, ...record.shape],
    dtype: 'float32',
    corrupt,
  };
}

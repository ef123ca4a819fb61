/**
 * Shared by this lib's specs (never imported by the lib itself): a fingerprint description with
 * tiny shapes, and a cache filled with a few such fingerprints.
 */
import { ActivationCache, type FingerprintHandle } from './activation-cache';
import type { FingerprintInfo } from './fingerprint-record';

export const fingerprintInfo = (fingerprint: string, shape: number[] = [2, 3]): FingerprintInfo => ({
  fingerprint,
  model: 'm',
  boundary: 'b',
  topologyHash: 't',
  weightsHash: 'w',
  preprocess: 'p',
  dataset: 'mnist',
  datasetId: 'mnist@1',
  inputSize: 8,
  shape,
  dtype: 'float32',
});

/** Value of sample `id` under a fingerprint: distinct per (fingerprint id, sample, element). */
export const sampleValues = (h: FingerprintHandle, id: number) =>
  Float32Array.from({ length: h.elements }, (_, k) => h.id * 100 + id + k / 8);

/** Registers each fingerprint with `samples` entries and records their usage; returns the handles. */
export async function fillCache(dir: string, fingerprints: string[], samples: number[], codec: 'float32' | 'float16' = 'float32') {
  const c = ActivationCache.open(dir, { codec });
  const handles = fingerprints.map((fp) => c.register(fingerprintInfo(fp)));
  for (const h of handles) {
    const bytes = c.putMany(
      h,
      samples.map((s) => [s, sampleValues(h, s)] as const),
    );
    c.recordUsage(h, { hits: 0, misses: samples.length, checksumFailures: 0, entriesAdded: samples.length, bytesAdded: bytes });
  }
  await c.close();
  return handles;
}

/**
 * Where a batch's boundary activations come from.
 *
 * Uncached: the upstream computes every batch: read and preprocess the samples and run the frozen
 * prefix (inference mode, no tape), or, after a boundary advance, take the old boundary's
 * activations and run only the newly frozen blocks (upstream.ts).
 * Cached: look every sample up under the prefix's fingerprint; only the misses (and values whose
 * checksum failed) go to the upstream, and their outputs are written back.
 * From the second epoch on a batch costs a few LMDB reads and no prefix at all. If the cache
 * fails (a write error, a full disk) it is dropped with one warning and training continues
 * uncached: correctness never depends on the cache.
 */
import type { ActivationCache, FingerprintHandle } from '@permafrost/cache';
import type { Dataset } from '@permafrost/data';
import { log } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';

export interface BatchCounters {
  hits: number;
  misses: number;
  checksumFailures: number;
  bytesRead: number;
  bytesWritten: number;
  entriesAdded: number;
  bytesAdded: number;
  readMs: number;
  writeMs: number;
  prefixMs: number;
}

export function emptyCounters(): BatchCounters {
  return {
    hits: 0,
    misses: 0,
    checksumFailures: 0,
    bytesRead: 0,
    bytesWritten: 0,
    entriesAdded: 0,
    bytesAdded: 0,
    readMs: 0,
    writeMs: 0,
    prefixMs: 0,
  };
}

export function addCounters(a: BatchCounters, b: BatchCounters): BatchCounters {
  const out = { ...a };
  for (const k of Object.keys(b) as (keyof BatchCounters)[]) out[k] += b[k];
  return out;
}

export interface ActivationBatch {
  activations: tf.Tensor;
  labels: Int32Array;
  counters: BatchCounters;
}

/** What produces activations at a boundary when the cache does not have them (upstream.ts). */
export interface Upstream {
  readonly boundaryShape: readonly number[];
  /** samples that went through the frozen prefix from the input (tests count prefix work) */
  readonly prefixSamples: number;
  compute(ids: number[], c: BatchCounters): Promise<tf.Tensor>;
}

export class ActivationSource {
  private readonly elements: number;
  /** the batch arrays, used in turn (see batch) */
  private readonly scratch: (Float32Array | undefined)[] = [undefined, undefined];
  private turn = 0;

  constructor(
    readonly upstream: Upstream,
    private readonly dataset: Dataset,
    private cache?: { store: ActivationCache; handle: FingerprintHandle },
  ) {
    this.elements = upstream.boundaryShape.reduce((a, b) => a * b, 1);
  }

  get cached(): boolean {
    return this.cache !== undefined;
  }

  /** samples whose prefix ran from the input, over the whole run */
  get prefixSamples(): number {
    return this.upstream.prefixSamples;
  }

  private labels(ids: readonly number[]): Int32Array {
    return Int32Array.from(ids, (id) => this.dataset.label(id));
  }

  /**
   * The batch's activations and labels. Its tensor must be disposed before the call after next:
   * a caller may fetch the next batch while it still trains on this one (the worker does, while
   * the gradient is being reduced).
   */
  async batch(ids: readonly number[]): Promise<ActivationBatch> {
    const c = emptyCounters();
    if (this.cache && !this.cache.store.healthy) this.dropCache();
    if (!this.cache) {
      const acts = await this.upstream.compute([...ids], c);
      c.misses = ids.length;
      return { activations: acts, labels: this.labels(ids), counters: c };
    }
    const { store, handle } = this.cache;
    const n = ids.length;
    // two arrays used in turn, grown as needed: tf.tensor copies one into the backend (or, on the
    // cpu backend, keeps it until the batch's tensor is disposed, which callers do before the call
    // after next), so a cached epoch allocates no batch-sized arrays
    this.turn = 1 - this.turn;
    let scratch = this.scratch[this.turn];
    if ((scratch?.length ?? 0) < n * this.elements) {
      scratch = new Float32Array(n * this.elements);
      this.scratch[this.turn] = scratch;
    }
    const out = (scratch as Float32Array).subarray(0, n * this.elements);
    const missing: number[] = [];
    const fresh = new Set<number>();
    const t0 = performance.now();
    ids.forEach((id, i) => {
      const r = store.get(handle, id, out, i * this.elements);
      if (r === 'hit') c.hits++;
      else {
        missing.push(i);
        if (r === 'corrupt') c.checksumFailures++;
        else fresh.add(i);
      }
    });
    c.readMs += performance.now() - t0;
    c.bytesRead += c.hits * store.valueBytes(handle);
    c.misses = missing.length;
    if (missing.length > 0) {
      const acts = await this.upstream.compute(
        missing.map((i) => ids[i] as number),
        c,
      );
      const values = (await acts.data()) as Float32Array;
      acts.dispose();
      const writes: [number, Float32Array][] = [];
      missing.forEach((i, j) => {
        const v = values.subarray(j * this.elements, (j + 1) * this.elements);
        out.set(v, i * this.elements);
        writes.push([ids[i] as number, v]);
      });
      const tw = performance.now();
      c.bytesWritten += store.putMany(handle, writes);
      c.writeMs += performance.now() - tw;
      if (store.healthy) {
        const each = store.valueBytes(handle);
        const added = missing.filter((i) => fresh.has(i)).length;
        c.entriesAdded += added;
        c.bytesAdded += added * each;
      }
    }
    return { activations: tf.tensor(out, [n, ...this.upstream.boundaryShape]), labels: this.labels(ids), counters: c };
  }

  private dropCache(): void {
    if (!this.cache) return;
    log().warn('activation cache disabled after a failed write; training continues uncached', {
      dir: this.cache.store.dir,
      error: this.cache.store.lastError?.message,
    });
    this.cache = undefined;
  }
}

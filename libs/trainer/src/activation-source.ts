/**
 * Where a batch's boundary activations come from.
 *
 * Uncached: read and preprocess the samples, run the frozen prefix (inference mode, no tape).
 * Cached: look every sample up under the prefix's fingerprint; only the misses (and values whose
 * checksum failed) are read and pushed through the prefix, and their outputs are written back.
 * From the second epoch on a batch costs a few LMDB reads and no prefix at all. If the cache
 * fails (a write error, a full disk) it is dropped with one warning and training continues
 * uncached: correctness never depends on the cache.
 */
import type { ActivationCache, FingerprintHandle } from '@permafrost/cache';
import { type Dataset, preprocess } from '@permafrost/data';
import type { Assembled } from '@permafrost/model';
import { log } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';

/** samples per synchronous prefix call */
const PREFIX_SLICE = 32;

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

export class ActivationSource {
  private readonly elements: number;
  /** samples whose prefix actually ran, over the whole run (tests count prefix work with it) */
  prefixSamples = 0;

  constructor(
    private readonly model: Assembled,
    private readonly dataset: Dataset,
    private cache?: { store: ActivationCache; handle: FingerprintHandle },
  ) {
    this.elements = model.boundaryShape.reduce((a, b) => a * b, 1);
  }

  get cached(): boolean {
    return this.cache !== undefined;
  }

  /**
   * Runs the prefix on samples `ids` (read from the dataset); returns a [n, ...boundary] tensor.
   * Large batches go through in slices of PREFIX_SLICE samples with a turn of the event loop in
   * between: one synchronous tfjs call over a batch of 256 at 96 px takes seconds on wasm, long
   * enough to starve a worker's heartbeats, and slices also bound the prefix's peak memory.
   */
  private async computePrefix(ids: number[], c: BatchCounters): Promise<{ acts: tf.Tensor; labels: Int32Array }> {
    const parts: tf.Tensor[] = [];
    const labels: Int32Array[] = [];
    for (let at = 0; at < ids.length; at += PREFIX_SLICE) {
      const slice = ids.slice(at, at + PREFIX_SLICE);
      const raw = await this.dataset.read(slice, { sizePx: this.model.input.sizePx });
      const t0 = performance.now();
      const acts = tf.tidy(() => this.model.prefix.predict(preprocess(raw, this.model.input), { batchSize: slice.length }) as tf.Tensor);
      await acts.data(); // settle the work inside the timer
      c.prefixMs += performance.now() - t0;
      parts.push(acts);
      labels.push(raw.labels);
      if (at + PREFIX_SLICE < ids.length) await new Promise<void>((r) => setImmediate(r));
    }
    this.prefixSamples += ids.length;
    const acts = parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts);
    if (parts.length > 1) tf.dispose(parts);
    const all = new Int32Array(ids.length);
    let k = 0;
    for (const l of labels) {
      all.set(l, k);
      k += l.length;
    }
    return { acts, labels: all };
  }

  async batch(ids: readonly number[]): Promise<ActivationBatch> {
    const c = emptyCounters();
    if (this.cache && !this.cache.store.healthy) this.dropCache();
    if (!this.cache) {
      const { acts, labels } = await this.computePrefix([...ids], c);
      c.misses = ids.length;
      return { activations: acts, labels, counters: c };
    }
    const { store, handle } = this.cache;
    const n = ids.length;
    const out = new Float32Array(n * this.elements);
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
      const { acts } = await this.computePrefix(
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
    const labels = Int32Array.from(ids, (id) => this.dataset.label(id));
    return { activations: tf.tensor(out, [n, ...this.model.boundaryShape]), labels, counters: c };
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

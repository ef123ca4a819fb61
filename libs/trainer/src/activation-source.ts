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
 *
 * Computing ahead: the caller names the ids its next calls will ask for (`upcoming`). When a
 * batch's misses do not fill the upstream's inference batch (a rank's share of a global batch, a
 * batch with some hits), the misses among the upcoming ids complete it, and their activations
 * wait in memory until their own batch asks for them; only then are they written to the cache
 * and counted, so every batch trains on exactly the values it would have computed itself. The
 * upstream also starts reading the input of the ids that will miss next while this batch's
 * prefix runs (upstream.ts).
 *
 * Writing only what can be read: a source may be given `readLater`, which says whether any later
 * read in this run can use a sample's entry; a computed activation it rules out is used and not
 * written. The freeze controller gives it to the sources of boundaries whose prefix was trained
 * in this run (no later run can rebuild or reuse them): without it an epoch's entries would be
 * written even when the run ends, or the boundary moves on, before anything reads them, and
 * writing an activation costs about as much as computing a few cheap early blocks.
 */
import type { ActivationCache, FingerprintHandle } from '@permafrost/cache';
import type { Dataset } from '@permafrost/data';
import { log } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import { PREFIX_BATCH } from './prefix-input';

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
  /** `next`: the ids the following call will probably ask for (the upstream may start reading them) */
  compute(ids: number[], c: BatchCounters, next?: readonly number[]): Promise<tf.Tensor>;
}

type Lookup = ReturnType<ActivationCache['get']>;

/** Activations computed ahead of their batch; `fresh`: the cache had no entry (not a corrupt one). */
interface Ahead {
  values: Float32Array;
  fresh: boolean;
}

/** Bounds what waits in memory for later batches. */
const AHEAD_CAP_BYTES = 64 << 20;

export class ActivationSource {
  private readonly elements: number;
  /** the batch arrays, used in turn (see batch) */
  private readonly scratch: (Float32Array | undefined)[] = [undefined, undefined];
  private turn = 0;
  /** activations computed for ids of coming batches */
  private readonly ahead = new Map<number, Ahead>();
  /** a value array for lookups of upcoming ids */
  private probe: Float32Array | undefined;
  /** a newer boundary's source computes its misses through this one (see supersede) */
  private superseded = false;

  constructor(
    readonly upstream: Upstream,
    private readonly dataset: Dataset,
    private cache?: { store: ActivationCache; handle: FingerprintHandle },
    /** whether a later read in this run can use sample `id`'s entry; absent: every entry can */
    private readonly readLater?: (id: number) => boolean,
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

  /**
   * A boundary advance made this source the upstream of the new boundary's: from now on it only
   * serves that source's misses, which the new boundary writes under its own fingerprint. So this
   * one still reads its entries but writes none: an entry written under a superseded fingerprint
   * is never read again, and writing it would double the bytes every miss costs.
   */
  supersede(): void {
    this.superseded = true;
  }

  private labels(ids: readonly number[]): Int32Array {
    return Int32Array.from(ids, (id) => this.dataset.label(id));
  }

  /**
   * The batch's activations and labels. Its tensor must be disposed before the call after next:
   * a caller may fetch the next batch while it still trains on this one (the worker does, while
   * the gradient is being reduced). `upcoming`: the ids the next calls will ask for, in order
   * (see the file's note); activations computed ahead for ids not named again are dropped.
   */
  async batch(ids: readonly number[], upcoming: readonly number[] = []): Promise<ActivationBatch> {
    const c = emptyCounters();
    if (this.cache && !this.cache.store.healthy) this.dropCache();
    const n = ids.length;
    const out = this.nextScratch(n);
    const computed: [number, Ahead][] = [];
    const missing: number[] = [];
    const corrupt = new Set<number>();
    const t0 = performance.now();
    ids.forEach((id, i) => {
      const early = this.ahead.get(id);
      if (early) {
        out.set(early.values, i * this.elements);
        computed.push([id, early]);
        return;
      }
      const r = this.lookup(id, out, i * this.elements);
      if (r === 'hit') c.hits++;
      else missing.push(i);
      if (r === 'corrupt') corrupt.add(i);
    });
    c.checksumFailures += corrupt.size;
    c.readMs += performance.now() - t0;
    if (this.cache) c.bytesRead += c.hits * this.cache.store.valueBytes(this.cache.handle);
    this.keepAhead(new Set(upcoming));
    if (missing.length > 0) {
      const values = await this.computeWithAhead(
        missing.map((i) => ids[i] as number),
        upcoming,
        c,
      );
      missing.forEach((i, j) => {
        const v = values.subarray(j * this.elements, (j + 1) * this.elements);
        out.set(v, i * this.elements);
        computed.push([ids[i] as number, { values: v, fresh: !corrupt.has(i) }]);
      });
    }
    c.misses = computed.length;
    this.writeBack(computed, c);
    return { activations: tf.tensor(out, [n, ...this.upstream.boundaryShape]), labels: this.labels(ids), counters: c };
  }

  /**
   * Runs the upstream on `ids`, completed to a whole number of inference batches with the ids of
   * `upcoming` that will miss; those extra activations wait in `ahead`. Returns `ids`' values.
   */
  private async computeWithAhead(ids: number[], upcoming: readonly number[], c: BatchCounters): Promise<Float32Array> {
    const room = Math.floor(AHEAD_CAP_BYTES / (4 * this.elements)) - this.ahead.size;
    const want = Math.min((PREFIX_BATCH - (ids.length % PREFIX_BATCH)) % PREFIX_BATCH, room);
    const taken = new Set(ids);
    const extra: [number, boolean][] = [];
    let at = 0;
    for (; at < upcoming.length && extra.length < want; at++) {
      const id = upcoming[at] as number;
      if (taken.has(id) || this.ahead.has(id)) continue;
      const r = this.lookup(id, undefined);
      if (r !== 'hit') extra.push([id, r === 'miss']);
      if (r === 'corrupt') c.checksumFailures++;
    }
    // the ids the next upstream call will probably ask for: the upcoming ones not computed now
    const next = upcoming.slice(at).filter((id) => !taken.has(id) && !this.ahead.has(id));
    const acts = await this.upstream.compute([...ids, ...extra.map(([id]) => id)], c, next.slice(0, PREFIX_BATCH));
    const values = (await acts.data()) as Float32Array;
    acts.dispose();
    extra.forEach(([id, fresh], j) => {
      const from = (ids.length + j) * this.elements;
      this.ahead.set(id, { values: values.subarray(from, from + this.elements), fresh });
    });
    return values;
  }

  /** Looks `id` up in the cache (into `dst` at `offset`, or a probe array); uncached: a miss. */
  private lookup(id: number, dst: Float32Array | undefined, offset = 0): Lookup {
    if (!this.cache) return 'miss';
    if (!dst) {
      this.probe ??= new Float32Array(this.elements);
      return this.cache.store.get(this.cache.handle, id, this.probe, 0);
    }
    return this.cache.store.get(this.cache.handle, id, dst, offset);
  }

  /** Drops activations computed ahead for ids no coming batch names. */
  private keepAhead(upcoming: ReadonlySet<number>): void {
    for (const id of this.ahead.keys()) if (!upcoming.has(id)) this.ahead.delete(id);
  }

  /** Writes the batch's computed activations to the cache and counts what was added. */
  private writeBack(computed: readonly [number, Ahead][], c: BatchCounters): void {
    for (const [id] of computed) this.ahead.delete(id);
    if (!this.cache || this.superseded) return;
    const readLater = this.readLater;
    const kept = readLater ? computed.filter(([id]) => readLater(id)) : computed;
    if (kept.length === 0) return;
    const { store, handle } = this.cache;
    const tw = performance.now();
    c.bytesWritten += store.putMany(
      handle,
      kept.map(([id, a]) => [id, a.values]),
    );
    c.writeMs += performance.now() - tw;
    if (store.healthy) {
      const added = kept.filter(([, a]) => a.fresh).length;
      c.entriesAdded += added;
      c.bytesAdded += added * store.valueBytes(handle);
    }
  }

  /**
   * One of two arrays used in turn, grown as needed: tf.tensor copies it into the backend (or, on
   * the cpu backend, keeps it until the batch's tensor is disposed, which callers do before the
   * call after next), so a cached epoch allocates no batch-sized arrays.
   */
  private nextScratch(n: number): Float32Array {
    this.turn = 1 - this.turn;
    let scratch = this.scratch[this.turn];
    if ((scratch?.length ?? 0) < n * this.elements) {
      scratch = new Float32Array(n * this.elements);
      this.scratch[this.turn] = scratch;
    }
    return (scratch as Float32Array).subarray(0, n * this.elements);
  }

  private dropCache(): void {
    if (!this.cache) return;
    log().warn('activation cache disabled after a failed write; training continues uncached', {
      dir: this.cache.store.dir,
      error: this.cache.store.lastError?.message,
    });
    this.cache = undefined;
    this.ahead.clear();
  }
}

/**
 * Training batches when the input is augmented before the frozen prefix
 * (docs/cache.md#augmentation-and-the-cache). A randomly augmented input has no single
 * activation to cache, so the lanes choose between two behaviours (`cache.views`):
 *
 * - views 0: every epoch draws a fresh transform per sample, keyed by (seed, epoch, sample); one
 *   uncached lane runs the prefix on every training batch.
 * - views K: view v of sample s is the fixed transform keyed by (seed, v, s); each view is a lane
 *   with its own fingerprint (the view's tag is part of it, so every cache key names the view),
 *   cached when the run has a cache. In epoch e sample s trains on view pickView(seed, e, s, K);
 *   a batch is split by view, each part served by its lane, and put back in order.
 *
 * Views exist to be cached, and only a frozen prefix has activations to cache: while nothing is
 * frozen (FreezeOut from the input before its first freeze, or policy none) the lanes draw a fresh
 * transform every epoch as with views 0, and the K view lanes replace that lane at the first
 * boundary advance. So FreezeOut from the input trains on the same inputs with views K as with
 * views 0 until its first freeze, and K = 1 is PipeTransformer's behaviour: fresh augmentation
 * while every layer trains, one cached augmented version of each sample after the freeze.
 *
 * What a sample trains on depends on (seed, epoch, sample), views and the global step of the
 * first freeze only: not on the batch it falls in, the rank that trains it, or whether the cache
 * holds it. Validation never goes
 * through the lanes (the controller's plain source). A boundary advance moves every lane as the
 * controller moves its plain source (freeze-controller.ts); the advanced lane of view v writes
 * sample s's entry only when a later epoch of the run draws view v for s, since no other read can
 * use it (each cycle of K epochs draws every view once, so two epochs in a row of one cycle
 * never share a view).
 */
import {
  type AugmentSpec,
  augmentId,
  type Dataset,
  drawTransform,
  epochKey,
  pickView,
  type SampleTransform,
  viewKey,
} from '@permafrost/data';
import { freezesNothing } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type ActivationBatch, ActivationSource, addCounters, type BatchCounters, emptyCounters } from './activation-source';
import type { BoundaryAugment } from './boundary-augment';
import type { OpenedCache, PrefixStage } from './cache-setup';
import { type InputTransform, PrefixUpstream, SegmentUpstream } from './upstream';

/** data.augment and cache.views: the input transforms, and the augmentation after the boundary (boundary-augment.ts). */
export interface AugmentSettings extends BoundaryAugment {
  /** the input transforms (data.augment without featureNoise and featureDropout) */
  spec: AugmentSpec;
  /** cache.views */
  views: number;
}

/** The fingerprint tag of view `view` (cache-setup.ts prefixFingerprint's `augment`). */
export function viewTag(spec: AugmentSpec, seed: number, view: number): string {
  return `${augmentId(spec)}:seed${seed}:view${view}`;
}

/** The transforms of view `view` (every epoch the same). */
export function viewTransform(spec: AugmentSpec, seed: number, view: number): (ids: readonly number[]) => SampleTransform[] {
  return (ids) => ids.map((id) => drawTransform(spec, viewKey(seed, view, id)));
}

/** Registers view `view`'s fingerprint of a stage in the run's cache; undefined: that lane runs uncached. */
export type RegisterView = (stage: PrefixStage, view: number) => OpenedCache | undefined;

interface Lane {
  source: ActivationSource;
  opened: OpenedCache | undefined;
  transform: InputTransform;
  /** this epoch's counters, recorded under the lane's fingerprint */
  counters: BatchCounters;
}

/** How the lanes cache: `register` gives a view's fingerprint (none: uncached); `epochs`: the run's (absent: write every entry). */
export interface LaneCaching {
  register?: RegisterView;
  epochs?: number;
}

export class AugmentLanes {
  private lanes: Lane[];
  /** the lanes are the one lane of fresh draws (views 0, or views K while nothing is frozen) */
  private fresh: boolean;
  private epoch = 0;
  private retiredPrefixSamples = 0;
  private readonly epochs: number | undefined;

  constructor(
    private readonly settings: AugmentSettings,
    private readonly seed: number,
    stage: PrefixStage,
    private readonly dataset: Dataset,
    { register, epochs }: LaneCaching = {},
  ) {
    this.epochs = epochs;
    this.fresh = settings.views === 0 || freezesNothing(stage);
    if (this.fresh) {
      const transform: InputTransform = (ids) => ids.map((id) => drawTransform(settings.spec, epochKey(seed, this.epoch, id)));
      const source = new ActivationSource(new PrefixUpstream(stage.prefix, stage.input, dataset, transform), dataset);
      this.lanes = [{ source, opened: undefined, transform, counters: emptyCounters() }];
    } else {
      this.lanes = this.viewLanes(stage, register);
    }
  }

  /** One lane per view at `stage`, each registered in the cache if `register` gives it a fingerprint. */
  private viewLanes(stage: PrefixStage, register: RegisterView | undefined, readLater?: (view: number) => (id: number) => boolean): Lane[] {
    const { spec, views } = this.settings;
    return Array.from({ length: views }, (_, v) => {
      const transform = viewTransform(spec, this.seed, v);
      const opened = register?.(stage, v);
      const upstream = new PrefixUpstream(stage.prefix, stage.input, this.dataset, transform);
      const source = new ActivationSource(upstream, this.dataset, opened, readLater?.(v));
      return { source, opened, transform, counters: emptyCounters() };
    });
  }

  /** whether every lane reads from the cache */
  get cached(): boolean {
    return this.lanes.every((l) => l.source.cached);
  }

  get prefixSamples(): number {
    return this.lanes.reduce((n, l) => n + l.source.prefixSamples, this.retiredPrefixSamples);
  }

  /** the current fingerprints of the cached lanes */
  get fingerprints(): string[] {
    return this.lanes.flatMap((l) => (l.opened && l.source.cached ? [l.opened.fingerprint] : []));
  }

  /** The activations of training ids `ids` in epoch `epoch` (ActivationSource.batch's contract). */
  async batch(epoch: number, ids: readonly number[], upcoming: readonly number[] = []): Promise<ActivationBatch> {
    if (epoch !== this.epoch) this.startEpoch(epoch);
    if (this.lanes.length === 1) return this.serve(this.lanes[0] as Lane, ids, upcoming);
    const K = this.lanes.length;
    const viewOf = (id: number) => pickView(this.seed, epoch, id, K);
    const rows = new Map<number, number[]>();
    ids.forEach((id, i) => {
      const v = viewOf(id);
      rows.set(v, [...(rows.get(v) ?? []), i]);
    });
    const out = new Float32Array(ids.length * this.elements);
    let counters = emptyCounters();
    for (const [v, at] of [...rows].sort(([a], [b]) => a - b)) {
      const part = at.map((i) => ids[i] as number);
      const b = await this.serve(
        this.lanes[v] as Lane,
        part,
        upcoming.filter((id) => viewOf(id) === v),
      );
      const values = (await b.activations.data()) as Float32Array;
      b.activations.dispose();
      const n = this.elements;
      for (const [j, i] of at.entries()) out.set(values.subarray(j * n, (j + 1) * n), i * n);
      counters = addCounters(counters, b.counters);
    }
    const shape = [ids.length, ...(this.lanes[0] as Lane).source.upstream.boundaryShape];
    return { activations: tf.tensor(out, shape), labels: Int32Array.from(ids, (id) => this.dataset.label(id)), counters };
  }

  private get elements(): number {
    return (this.lanes[0] as Lane).source.upstream.boundaryShape.reduce((a, b) => a * b, 1);
  }

  private async serve(lane: Lane, ids: readonly number[], upcoming: readonly number[]): Promise<ActivationBatch> {
    const b = await lane.source.batch(ids, upcoming);
    lane.counters = addCounters(lane.counters, b.counters);
    return b;
  }

  /** A new epoch: activations computed ahead under the last epoch's transforms are dropped. */
  private startEpoch(epoch: number): void {
    this.epoch = epoch;
    if (!this.fresh) return;
    for (const lane of this.lanes) lane.source = new ActivationSource(lane.source.upstream, this.dataset, lane.opened);
  }

  /**
   * Moves every lane to the boundary of `next` (`segment`: the newly frozen layers): a cached lane
   * computes its misses from its old boundary's entries through the segment; a lane that had no
   * cache yet takes one if `register` gives it (its misses run the new prefix on its augmented
   * input); a lane whose cache failed stays uncached.
   */
  advance(next: PrefixStage, segment: tfl.LayersModel, register?: RegisterView): void {
    if (this.fresh && this.settings.views > 0) {
      // the first freeze: the views take over from the fresh draws
      this.retiredPrefixSamples = this.prefixSamples;
      this.fresh = false;
      this.lanes = this.viewLanes(next, register, (v) => this.readLater(v));
      return;
    }
    this.lanes = this.lanes.map((lane, v) => {
      const failed = lane.opened !== undefined && !lane.source.cached;
      const opened = failed ? undefined : register?.(next, v);
      if (opened && lane.opened) {
        opened.store.markSuperseded(lane.opened.fingerprint, opened.fingerprint);
        const source = new ActivationSource(new SegmentUpstream(lane.source, segment), this.dataset, opened, this.readLater(v));
        return { ...lane, source, opened };
      }
      this.retiredPrefixSamples += lane.source.prefixSamples;
      const upstream = new PrefixUpstream(next.prefix, next.input, this.dataset, lane.transform);
      return { ...lane, source: new ActivationSource(upstream, this.dataset, opened, this.readLater(v)), opened };
    });
  }

  /** Whether an epoch after the current one draws view `view` for a sample (absent epochs: assume so). */
  private readLater(view: number): (id: number) => boolean {
    const K = this.settings.views;
    return (id) => {
      if (this.epochs === undefined) return true;
      for (let e = this.epoch + 1; e <= this.epochs; e++) if (pickView(this.seed, e, id, K) === view) return true;
      return false;
    };
  }

  /** Records each cached lane's counters under its fingerprint and starts them again. */
  async recordUsage(): Promise<void> {
    for (const lane of this.lanes) {
      if (lane.opened && lane.source.cached) {
        await lane.opened.store.flush();
        lane.opened.store.recordUsage(lane.opened.handle, lane.counters);
      }
      lane.counters = emptyCounters();
    }
  }
}

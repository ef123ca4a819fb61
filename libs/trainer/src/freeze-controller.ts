/**
 * Applies a freeze plan to a run: before each global step it moves the boundary when the plan says
 * so and sets each block's learning rate.
 *
 * A boundary advance from k to m (blocks k+1..m freeze):
 *   1. the full model is split again at m: the new suffix has no variables of the frozen blocks,
 *      so they leave the tape, the gradient reduction (the tensor-set signature changes on every
 *      rank at the same step) and the optimizers, whose state for them is dropped;
 *   2. the frozen layers are marked untrainable and from now on run only in inference mode
 *      (BatchNormalization on its moving statistics, which therefore never change again);
 *   3. with the cache, the new boundary gets its own fingerprint (the prefix through m, with the
 *      blocks' final weights) and a source whose misses are computed from the old boundary's
 *      source through k+1..m only (SegmentUpstream): the full prefix never runs again for a
 *      sample the old boundary holds. The old fingerprint's entries are superseded: never read
 *      as current, left for `cache gc`. Without the cache, frozen layers run forward every step
 *      (the paper's method). The new boundary's prefix holds blocks trained in this run, so only
 *      this run can read its entries: its sources write an entry only when a later epoch can read
 *      it (activation-source.ts; not in the last epoch, and with augmented views only when a
 *      later epoch draws the same view, augment-lanes.ts).
 *
 * A boundary at the input (policy none, or FreezeOut from the input) freezes nothing, so there is
 * nothing to cache: the cache is not opened, and the identity prefix hands the preprocessed input
 * to the suffix (the whole model). Under FreezeOut the cache opens at the first freeze, for the
 * new boundary, with the full prefix as its upstream (each sample's prefix runs once from then on);
 * later advances follow as above.
 */
import type { ActivationCache } from '@permafrost/cache';
import type { Dataset } from '@permafrost/data';
import type { FreezeEvent, FreezePlan } from '@permafrost/freeze';
import { type Assembled, freezesNothing, splitAt } from '@permafrost/model';
import { log } from '@permafrost/telemetry';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type ActivationBatch, ActivationSource, addCounters, type BatchCounters } from './activation-source';
import { AugmentLanes, type AugmentSettings, type RegisterView, viewTag } from './augment-lanes';
import { type CacheSpec, type OpenedCache, openRunCache, type PrefixStage, prefixFingerprint, registerPrefix } from './cache-setup';
import type { OptimizerSpec } from './optimizer';
import { type GroupOf, SuffixTrainer } from './suffix-trainer';
import { PrefixUpstream, SegmentUpstream } from './upstream';

export interface FreezeControllerOptions {
  model: Assembled;
  dataset: Dataset;
  plan: FreezePlan;
  optimizer: OptimizerSpec;
  /** the activation cache; undefined trains uncached */
  cache?: CacheSpec & { modelName: string };
  /** input augmentation before the prefix (augment-lanes.ts); undefined: none */
  augment?: AugmentSettings;
  /** the job's seed (augmentation draws) */
  seed?: number;
  /** the run's epochs: entries no later epoch reads are not written; absent: every entry is */
  epochs?: number;
}

export class FreezeController {
  boundary: string;
  suffix: tfl.LayersModel;
  source: ActivationSource;
  readonly trainer: SuffixTrainer;
  /** the current boundary's cache entry, if cached */
  opened: OpenedCache | undefined;
  /** every fingerprint this run registered, oldest first */
  readonly fingerprints: string[] = [];
  private store: ActivationCache | undefined;
  private retiredPrefixSamples = 0;
  /** the boundary is the input and the run has a cache: it opens at the first freeze */
  private cacheAtFirstFreeze: boolean;
  /** where training batches come from when the input is augmented; validation uses `source` */
  private readonly lanes: AugmentLanes | undefined;
  /** the epoch of the latest training batch (0: none yet) */
  private epoch = 0;

  constructor(private readonly opts: FreezeControllerOptions) {
    const { model, dataset } = opts;
    this.boundary = model.boundary;
    this.suffix = model.suffix;
    const nothingFrozen = freezesNothing(model);
    this.cacheAtFirstFreeze = opts.cache !== undefined && nothingFrozen && opts.plan.events.length > 0;
    if (opts.cache && nothingFrozen) {
      log().info('activation cache not opened: nothing is frozen', { opensAtFirstFreeze: this.cacheAtFirstFreeze });
    }
    this.opened = opts.cache && !nothingFrozen ? openRunCache(model, dataset, opts.cache.modelName, opts.cache) : undefined;
    this.store = this.opened?.store;
    if (this.opened) this.fingerprints.push(this.opened.fingerprint);
    this.source = new ActivationSource(new PrefixUpstream(model.prefix, model.input, dataset), dataset, this.opened);
    this.trainer = new SuffixTrainer(model.suffix, opts.optimizer, groupOf(model, opts.plan));
    if (opts.augment) this.lanes = this.augmentLanes(opts.augment);
  }

  private augmentLanes(augment: AugmentSettings): AugmentLanes {
    // a run that freezes nothing, ever, has no cache to miss
    const cacheable = !freezesNothing(this.opts.model) || this.cacheAtFirstFreeze;
    if (augment.views === 0 && this.opts.cache && cacheable) {
      log().warn(
        'augmented inputs are not cached: each epoch draws a new augmentation, so the frozen prefix runs on every training batch',
        {
          views: 0,
          hint: 'set cache.views (--cache-views K) to cache K augmented views per sample, or cache.enabled false (--no-cache) to train uncached without this warning',
        },
      );
    }
    const lanes = new AugmentLanes(augment, this.opts.seed ?? 0, this.opts.model, this.opts.dataset, {
      register: this.registerView(),
      epochs: this.opts.epochs,
    });
    this.fingerprints.push(...lanes.fingerprints);
    return lanes;
  }

  /** Registers an augmented view's fingerprint in the run's cache (none without one, or with views 0). */
  private registerView(): RegisterView | undefined {
    const { store, opts } = this;
    const augment = opts.augment;
    if (!store || !augment || augment.views === 0) return undefined;
    return (stage: PrefixStage, view: number) => {
      const id = prefixFingerprint(stage, opts.dataset, viewTag(augment.spec, opts.seed ?? 0, view));
      // a recipe only for the initial boundary (as for the plain prefix): a later one holds trained blocks
      const base = stage.boundary === opts.model.boundary ? opts.cache?.recipe : undefined;
      const recipe = base && { ...base, data: { ...base.data, augment: augment.spec }, view };
      return registerPrefix(store, stage, opts.dataset, opts.cache?.modelName ?? opts.model.full.name, recipe, id);
    };
  }

  /** samples pushed through the frozen prefix from the input, over the whole run */
  get prefixSamples(): number {
    return this.retiredPrefixSamples + this.source.prefixSamples + (this.lanes?.prefixSamples ?? 0);
  }

  /** whether training batches come from the cache */
  get trainCached(): boolean {
    return this.lanes ? this.lanes.cached : this.source.cached;
  }

  /** A training batch of epoch `epoch` (ActivationSource.batch's contract); validation reads `source`. */
  trainBatch(epoch: number, ids: readonly number[], upcoming: readonly number[]): Promise<ActivationBatch> {
    this.epoch = epoch;
    return this.lanes ? this.lanes.batch(epoch, ids, upcoming) : this.source.batch(ids, upcoming);
  }

  get trainableLayers(): number {
    return this.suffix.layers.filter((l) => l.trainableWeights.length > 0).length;
  }

  /** whether the plan moves the boundary before global step `step` (the source changes then) */
  movesAt(step: number): boolean {
    return this.opts.plan.eventAt(step) !== undefined;
  }

  /** Applies the plan's event and learning rates for global step `step`; returns the event. */
  beforeStep(step: number): FreezeEvent | undefined {
    const event = this.opts.plan.eventAt(step);
    // a rank that rolled back to this step may have moved there already (see catchUp)
    if (event && event.boundary !== this.boundary) this.advance(event.boundary, step);
    if (this.opts.plan.schedule) this.trainer.optimizers.setLearningRates(this.opts.plan.learningRates(step, this.opts.optimizer.lr));
    return event;
  }

  /** Puts the run where the plan has it at `step` (resuming mid-run). */
  seek(step: number): void {
    const boundary = this.opts.plan.boundaryAt(step);
    if (boundary !== this.boundary) this.advance(boundary, step);
  }

  /**
   * Puts the boundary where the plan has it during global step `step`, unless it is there already:
   * a rank that resumes at `step` in a new generation (docs/distributed.md#a-new-generation). A
   * rank that had moved on past an advance before a failed collective stays; one that is behind
   * (or has just joined) moves forward, after it has the trained weights. The optimizer groups of
   * blocks frozen by then are dropped on every rank.
   */
  catchUp(step: number): void {
    const boundary = this.opts.plan.boundaryAt(step);
    if (boundary !== this.boundary) this.advance(boundary, step);
    const live = this.trainer.groups;
    this.trainer.optimizers.drop(this.trainer.optimizers.names.filter((g) => !live.has(g)));
  }

  /** Moves the boundary forward to `boundary` (a later valid boundary of the current suffix). */
  advance(boundary: string, step: number): void {
    const { model, dataset } = this.opts;
    const segment = splitAt(this.suffix, boundary).prefix;
    const next = splitAt(model.full, boundary);
    const frozen = segment.layers.filter((l) => l.getClassName() !== 'InputLayer');
    for (const l of frozen) l.trainable = false;
    const before = this.trainer.groups;
    this.trainer.setSuffix(next.suffix);
    const after = this.trainer.groups;
    this.trainer.optimizers.drop([...before].filter((g) => !after.has(g)));
    const old = this.opened;
    let opened: OpenedCache | undefined;
    if (this.cacheAtFirstFreeze) {
      this.cacheAtFirstFreeze = false;
      opened = this.openAtFirstFreeze({ ...next, input: model.input });
    } else if (this.store && old && this.source.cached) {
      // no rebuild recipe: this prefix holds blocks trained in this run, which the job alone cannot rebuild
      opened = registerPrefix(this.store, { ...next, input: model.input }, dataset, this.opts.cache?.modelName ?? model.full.name);
    }
    if (opened && old) {
      // after registering: registering a fingerprint again clears its superseded mark
      this.store?.markSuperseded(old.fingerprint, opened.fingerprint);
      this.fingerprints.push(opened.fingerprint);
      this.source = new ActivationSource(new SegmentUpstream(this.source, segment), dataset, opened, this.readLater);
    } else {
      this.retiredPrefixSamples += this.source.prefixSamples;
      this.source = new ActivationSource(new PrefixUpstream(next.prefix, model.input, dataset), dataset, opened, this.readLater);
    }
    if (this.lanes) {
      const fresh = new Set(this.fingerprints);
      this.lanes.advance({ ...next, input: model.input }, segment, this.registerView());
      this.fingerprints.push(...this.lanes.fingerprints.filter((f) => !fresh.has(f)));
    }
    log().info('boundary advanced', {
      step,
      from: this.boundary,
      to: boundary,
      frozenLayers: frozen.length,
      trainableLayers: next.suffix.layers.filter((l) => l.trainableWeights.length > 0).length,
      cached: opened !== undefined,
    });
    this.opened = opened;
    this.boundary = boundary;
    this.suffix = next.suffix;
  }

  /**
   * Whether a later read can use an entry of a trained boundary's plain source: every epoch reads
   * the same samples (training without augmented views, and validation), so any epoch but the last.
   */
  private readonly readLater = (): boolean => this.opts.epochs === undefined || this.epoch < this.opts.epochs;

  /** Opens the cache for the first frozen prefix (no rebuild recipe: it holds blocks trained in this run). */
  private openAtFirstFreeze(stage: PrefixStage): OpenedCache | undefined {
    const cache = this.opts.cache;
    if (!cache) return undefined;
    const opened = openRunCache(stage, this.opts.dataset, cache.modelName, { dir: cache.dir, codec: cache.codec });
    this.store = opened?.store;
    if (opened) this.fingerprints.push(opened.fingerprint);
    return opened;
  }

  /**
   * Flushes cache writes and records this epoch's counters under the current fingerprints:
   * `train` and `val` under the plain prefix's, or with augmentation each view's own and `val`.
   */
  async recordUsage(train: BatchCounters, val: BatchCounters): Promise<void> {
    await this.lanes?.recordUsage();
    if (!this.opened) return;
    await this.opened.store.flush();
    this.opened.store.recordUsage(this.opened.handle, this.lanes ? val : addCounters(train, val));
  }

  async close(): Promise<void> {
    await this.store?.close();
  }
}

/** Optimizer groups: one per block with a schedule (each its own learning rate), else one. */
function groupOf(model: Assembled, plan: FreezePlan): GroupOf {
  if (!plan.schedule) return () => 'all';
  const byLayer = new Map<string, string>();
  for (const b of model.layout.blocks) for (const l of b.layers) byLayer.set(l, b.name);
  return (layer) => byLayer.get(layer) ?? 'head';
}

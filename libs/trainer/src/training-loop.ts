/**
 * The training loop, the same for one process and for every rank of a fleet
 * (docs/architecture.md#the-training-loop).
 *
 * Per epoch every rank derives the same global order (a seeded shuffle of the training ids) and
 * cuts it into global batches of `batchSize`; in step s a rank trains the ids of global batch s
 * that fall in its shards (all of them in one process). The boundary activations come from the
 * ActivationSource (the frozen prefix in inference mode with no tape, or the LMDB cache); the
 * suffix's gradient sums are reduced across ranks and divided by the global batch's size, so
 * every rank applies the mean gradient of the whole global batch: N ranks train exactly what one
 * process trains. Before each step the freeze plan may move the boundary; a rank of a fleet checks
 * the move against the coordinator's announcement first. After the training steps, each rank
 * evaluates its share of the validation ids through the same source and the sums are reduced, so
 * every rank reports the same validation totals.
 */
import { changesInput, type Dataset, localEpochPlan, shardOf } from '@permafrost/data';
import type { FreezePlan, FreezePolicy } from '@permafrost/freeze';
import type { Assembled } from '@permafrost/model';
import { PermafrostError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import { type ActivationBatch, addCounters, type BatchCounters, emptyCounters } from './activation-source';
import { adoptGeneration, type Generation } from './adopt-generation';
import type { AugmentSettings } from './augment-lanes';
import { augmentBoundary } from './boundary-augment';
import type { CacheSpec } from './cache-setup';
import { writeCheckpoint } from './checkpoint';
import { checkpointName, removeStaleTemps } from './checkpoint-pointer';
import { readCheckpointMeta, restoreCheckpoint } from './checkpoint-restore';
import { writeCommitCheckpoint } from './commit-checkpoint';
import type { RankEpoch } from './epoch-record';
import { FreezeController } from './freeze-controller';
import { freezePlanFor, stepsPerEpoch } from './freeze-setup';
import { assertGradientKernels } from './kernel-check';
import { correctCount, crossEntropySum } from './loss';
import type { OptimizerSpec } from './optimizer';
import { PREFIX_BATCH } from './prefix-input';
import { type GradientReducer, localReducer } from './reducer';
import { type EpochProgress, freshProgress, StepCommits } from './step-commit';
import { weightsHash } from './suffix-trainer';
import { stateVariables } from './training-state';

/** How many ids of the coming batches a batch read names (ActivationSource.batch's `upcoming`). */
const UPCOMING_IDS = 2 * PREFIX_BATCH;

/** A boundary advance as the coordinator announced it. */
export interface AnnouncedFreeze {
  step: number;
  boundary: string;
}

export type LoopEvent =
  | {
      type: 'step';
      epoch: number;
      step: number;
      steps: number;
      samples: number;
      lossSum: number;
      batchLoss: number;
      counters: BatchCounters;
      seconds: number;
      cached: boolean;
    }
  | { type: 'evaluate'; epoch: number }
  | { type: 'freeze'; epoch: number; step: number; boundary: string; blocks: string[]; trainableLayers: number };

export interface LoopOptions {
  model: Assembled;
  dataset: Dataset;
  trainIds: readonly number[];
  valIds: readonly number[];
  epochs: number;
  /** the global batch: the samples of one optimizer step over all ranks */
  batchSize: number;
  seed: number;
  optimizer: OptimizerSpec;
  /** the activation cache; undefined trains uncached */
  cache?: CacheSpec & { modelName: string };
  /** training-time augmentation (augment-lanes.ts, boundary-augment.ts); undefined: none */
  augment?: AugmentSettings;
  /** the freeze policy (default: the fixed boundary the model was assembled with) */
  freeze?: FreezePolicy;
  /** sums gradients across ranks (default: world size 1) */
  reducer?: GradientReducer;
  /** the shards of the sample ids this rank trains (default: all, one process) */
  shards?: { owned: readonly number[]; count: number };
  /** keep an in-memory commit after every step, to roll back to (a rank of an elastic fleet) */
  commit?: boolean;
  onEvent?: (e: LoopEvent) => void;
}

/** This rank's share of a step whose reduction was under way: if it completed elsewhere, it counts. */
interface Pending {
  step: number;
  ids: number[];
  counters: BatchCounters;
  lossSum: number;
}

export class TrainingLoop {
  readonly ctl: FreezeController;
  readonly plan: FreezePlan;
  readonly stepsPerEpoch: number;
  /** the state this rank rolls back to (kept when LoopOptions.commit) */
  readonly commits: StepCommits;
  private reducer: GradientReducer;
  private owned: Set<number>;
  private shardCount: number;
  private progress: EpochProgress = freshProgress(0);
  private pending: Pending | undefined;
  private wroteCheckpoint = false;
  /** the global step the model's state is at before any epoch runs */
  private position = 0;

  constructor(private readonly opts: LoopOptions) {
    assertGradientKernels(opts.model.suffix);
    this.stepsPerEpoch = stepsPerEpoch(opts.trainIds.length, opts.batchSize);
    this.plan = freezePlanFor(opts.model, opts.freeze ?? { policy: 'prefix' }, this.stepsPerEpoch * opts.epochs);
    this.ctl = new FreezeController({
      model: opts.model,
      dataset: opts.dataset,
      plan: this.plan,
      optimizer: opts.optimizer,
      cache: opts.cache,
      epochs: opts.epochs,
      ...(opts.augment && changesInput(opts.augment.spec) ? { augment: opts.augment, seed: opts.seed } : {}),
    });
    this.reducer = opts.reducer ?? localReducer;
    this.owned = new Set(opts.shards?.owned ?? [0]);
    this.shardCount = opts.shards?.count ?? 1;
    this.commits = new StepCommits(stateVariables(opts.model.suffix), this.ctl.trainer.optimizers);
  }

  /** global steps the newest commit has completed (undefined: none yet) */
  get committedStep(): number | undefined {
    return this.commits.latest?.step;
  }

  /**
   * Trains epoch `epoch` (1-based) and evaluates; `announced`: the coordinator's freeze events,
   * checked. `fromStep`: the global step to continue at (a new generation resumes mid-epoch with
   * the progress it rolled back to); default the epoch's first.
   */
  async runEpoch(epoch: number, announced?: readonly AnnouncedFreeze[], fromStep?: number): Promise<RankEpoch> {
    const t0 = performance.now();
    const first = (epoch - 1) * this.stepsPerEpoch;
    // a checkpoint of a step mid-epoch (commit-checkpoint.ts) continues its epoch at that step
    const start = fromStep ?? Math.max(first, this.position);
    if (start === first || this.progress.epoch !== epoch) this.progress = freshProgress(epoch);
    const trained = await this.trainSteps(epoch, announced, t0, start - first);
    const seconds = (performance.now() - t0) / 1000;
    this.opts.onEvent?.({ type: 'evaluate', epoch });
    const val = await this.evaluate();
    await this.ctl.recordUsage(trained.counters, val.counters);
    return {
      epoch,
      samples: trained.samples,
      trainLossSum: trained.lossSum,
      ...val.totals,
      trainCache: trained.counters,
      valCache: val.counters,
      seconds,
      valSeconds: val.seconds,
      weightsHash: weightsHash(this.ctl.suffix),
      sampleIds: trained.ids,
      trainableLayers: this.ctl.trainableLayers,
      boundary: this.ctl.boundary,
      cached: this.ctl.trainCached,
    };
  }

  private async trainSteps(epoch: number, announced: readonly AnnouncedFreeze[] | undefined, t0: number, from: number) {
    const o = this.opts;
    const plan = localEpochPlan(o.trainIds, o.seed, epoch, o.batchSize, [...this.owned], this.shardCount);
    const first = (epoch - 1) * this.stepsPerEpoch;
    const done = this.progress;
    // the next step's batch, read while this step's gradient is being reduced (see readAhead)
    let next: Promise<ActivationBatch> | undefined;
    for (let s = from; s < plan.steps.length; s++) {
      this.beforeStep(epoch, first + s, announced);
      const ids = plan.steps[s] as number[];
      const fetched = next;
      next = undefined;
      const coming = (after: number) => this.upcoming(plan.steps, after, first, announced);
      const batch = fetched ? await fetched : ids.length > 0 ? await this.ctl.trainBatch(epoch, ids, coming(s)) : undefined;
      const readAhead = (lossSum: number) => {
        this.pending = { step: first + s, ids, counters: batch?.counters ?? emptyCounters(), lossSum };
        next = this.readAhead(epoch, plan.steps[s + 1], coming(s + 1), first + s + 1, announced, batch?.counters.misses ?? 1);
      };
      if (batch && o.augment) batch.activations = augmentBoundary(batch.activations, ids, o.augment, { seed: o.seed, epoch });
      const lossSum = await this.step(batch, plan.globalCounts[s] as number, readAhead).catch((e: unknown) => {
        // the run fails; the batch read meanwhile is not going to be trained
        void next?.then((b) => b.activations.dispose()).catch(() => undefined);
        throw e;
      });
      if (batch) done.counters = addCounters(done.counters, batch.counters);
      done.samples += ids.length;
      done.lossSum += lossSum;
      done.ids.push(...ids);
      this.pending = undefined;
      if (o.commit) await this.commits.commit(first + s + 1, done);
      o.onEvent?.({
        type: 'step',
        epoch,
        step: s + 1,
        steps: plan.steps.length,
        samples: done.samples,
        lossSum: done.lossSum,
        batchLoss: lossSum / Math.max(ids.length, 1),
        counters: done.counters,
        seconds: (performance.now() - t0) / 1000,
        cached: this.ctl.trainCached,
      });
      // On the wasm and cpu backends every await above settles without reaching the event loop's
      // timer and I/O phases; yield to them once per step so heartbeats and progress go out.
      await new Promise<void>((r) => setImmediate(r));
    }
    return done;
  }

  /** One optimizer step on this rank's share (none: zeros, so the collective lines up). */
  private async step(batch: ActivationBatch | undefined, globalCount: number, whileReducing: (lossSum: number) => void): Promise<number> {
    try {
      const r = await this.ctl.trainer.step(batch?.activations, batch?.labels ?? new Int32Array(0), {
        reducer: this.reducer,
        globalCount,
        whileReducing: (local) => whileReducing(local.lossSum),
      });
      return r.lossSum;
    } finally {
      batch?.activations.dispose();
    }
  }

  /**
   * Applies the freeze plan before global step `step`. A rank of a fleet checks it against the
   * coordinator's announcement: a rank that would reduce a different tensor set fails here with
   * both plans named instead of deadlocking in the allreduce.
   */
  private beforeStep(epoch: number, step: number, announced: readonly AnnouncedFreeze[] | undefined): void {
    const own = this.ctl.beforeStep(step);
    if (announced) {
      const theirs = announced.find((e) => e.step === step);
      if ((own?.boundary ?? '') !== (theirs?.boundary ?? '')) {
        throw new PermafrostError(
          'failed-precondition',
          `freeze plan mismatch at step ${step}: the coordinator announced ${theirs ? `boundary ${theirs.boundary}` : 'no change'}, this worker's plan says ${own ? `boundary ${own.boundary}` : 'no change'}`,
        );
      }
    }
    if (own) {
      const trainableLayers = this.ctl.trainableLayers;
      this.opts.onEvent?.({ type: 'freeze', epoch, step, boundary: own.boundary, blocks: own.blocks, trainableLayers });
    }
  }

  /**
   * Reads the batch of global step `step` while the current step's gradient is being reduced:
   * that is time a rank of a fleet spends waiting for the slowest one, and the next batch's cache
   * reads (a few ms) fill it instead of following it. Only where the reads are cheap and come
   * from where they will come from: the last batch was all cache hits (a miss runs the frozen
   * prefix, seconds of work that would hold up this rank's end of the allreduce), and the
   * boundary does not move before that step (that changes the source).
   */
  private readAhead(
    epoch: number,
    ids: number[] | undefined,
    upcoming: readonly number[],
    step: number,
    announced: readonly AnnouncedFreeze[] | undefined,
    lastMisses: number,
  ): Promise<ActivationBatch> | undefined {
    if (!ids || ids.length === 0 || lastMisses > 0 || !this.ctl.trainCached) return undefined;
    if (this.ctl.movesAt(step) || announced?.some((e) => e.step === step)) return undefined;
    const p = this.ctl.trainBatch(epoch, ids, upcoming);
    // a failure surfaces when the step awaits it; until then it must not count as unhandled
    p.catch(() => undefined);
    return p;
  }

  /**
   * The ids of the local steps after step `s` of this epoch (`first`: the epoch's first global
   * step) that the current source will serve: up to the next boundary move, at most UPCOMING_IDS.
   * The source may compute their activations ahead, together with step s's misses.
   */
  private upcoming(steps: readonly number[][], s: number, first: number, announced: readonly AnnouncedFreeze[] | undefined): number[] {
    const ids: number[] = [];
    for (let j = s + 1; j < steps.length && ids.length < UPCOMING_IDS; j++) {
      const step = first + j;
      if (this.ctl.movesAt(step) || announced?.some((e) => e.step === step)) break;
      ids.push(...(steps[j] as number[]));
    }
    return ids.slice(0, UPCOMING_IDS);
  }

  /** This rank's share of the validation ids, then the sums over every rank. */
  private async evaluate(): Promise<{
    totals: Pick<RankEpoch, 'valLossSum' | 'valCorrect' | 'valCount'>;
    counters: BatchCounters;
    seconds: number;
  }> {
    const t0 = performance.now();
    const ids = this.opts.valIds.filter((id) => this.owned.has(shardOf(id, this.shardCount)));
    let counters = emptyCounters();
    let lossSum = 0;
    let correct = 0;
    for (let i = 0; i < ids.length; i += this.opts.batchSize) {
      const chunk = ids.slice(i, i + this.opts.batchSize);
      const b = await this.ctl.source.batch(chunk, ids.slice(i + chunk.length, i + chunk.length + UPCOMING_IDS));
      counters = addCounters(counters, b.counters);
      const [l, c] = tf.tidy(() => {
        const probs = this.ctl.suffix.predict(b.activations, { batchSize: chunk.length }) as tf.Tensor;
        const y = tf.tensor1d(b.labels, 'int32');
        return [crossEntropySum(probs, y), correctCount(probs, y)];
      });
      b.activations.dispose();
      lossSum += (await l.data())[0] ?? 0;
      correct += (await c.data())[0] ?? 0;
      tf.dispose([l, c]);
    }
    let totals = [lossSum, correct, ids.length];
    if (this.reducer.worldSize > 1) {
      const sums = Float32Array.from(totals);
      await this.reducer.allreduce(sums, 'validation-sums');
      totals = [...sums];
    }
    const [valLossSum = 0, valCorrect = 0, valCount = 0] = totals;
    return {
      totals: { valLossSum, valCorrect: Math.round(valCorrect), valCount: Math.round(valCount) },
      counters,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /** Writes the checkpoint of the end of `epoch` under `root`; returns its directory. */
  async checkpoint(root: string, epoch: number, meta: Record<string, unknown>): Promise<string> {
    if (!this.wroteCheckpoint) removeStaleTemps(root);
    this.wroteCheckpoint = true;
    const step = epoch * this.stepsPerEpoch;
    const name = checkpointName(epoch, this.opts.epochs);
    return writeCheckpoint(root, name, this.opts.model.full, this.ctl.trainer.optimizers, {
      ...meta,
      epoch,
      step,
      boundary: this.ctl.boundary,
    });
  }

  /**
   * Writes the checkpoint of the newest commit under `root` (commit-checkpoint.ts); returns its
   * directory and step. The live weights take the commit's.
   */
  async checkpointCommit(root: string, meta: Record<string, unknown>): Promise<{ dir: string; step: number }> {
    const commit = this.commits.latest;
    if (!commit) throw new PermafrostError('failed-precondition', 'this rank holds no commit to checkpoint');
    if (!this.wroteCheckpoint) removeStaleTemps(root);
    this.wroteCheckpoint = true;
    const dir = await writeCommitCheckpoint({
      root,
      commit,
      vars: this.commits.vars,
      model: this.opts.model.full,
      optimizerClass: this.ctl.trainer.optimizers.className,
      meta: {
        ...meta,
        // the epochs whose end (validation, checkpoint) is done: a commit at an epoch's last step
        // is resumed in that epoch, which then only validates and checkpoints
        epoch: Math.floor(Math.max(commit.step - 1, 0) / this.stepsPerEpoch),
        step: commit.step,
        boundary: this.plan.boundaryAt(commit.step - 1),
      },
    });
    return { dir, step: commit.step };
  }

  /** Continues from a checkpoint: weights, then the freeze position at its step, then the optimizer state. */
  async restore(dir: string): Promise<void> {
    const meta = await readCheckpointMeta(dir);
    await restoreCheckpoint(dir, this.opts.model.full, this.ctl.trainer, () => this.ctl.seek(meta.step));
    this.position = meta.step;
  }

  /** Commits the state training starts from (step 0, or the restored checkpoint's). */
  async commitStart(): Promise<void> {
    await this.commits.commit(this.position, this.progress);
  }

  /**
   * Takes this rank into a new generation at global step `g.resumeStep`: the new reducer and
   * shards, the progress of its last commit, the state copied from the generation's state rank
   * (adopt-generation.ts), and a commit of it.
   */
  async regroup(g: Generation): Promise<void> {
    this.reducer = g.reducer;
    this.owned = new Set(g.shards);
    this.shardCount = g.shardCount;
    // a failed regroup leaves the commits and the step in flight as they were, for the next one
    this.progress = this.progressAt(g.resumeStep);
    await adoptGeneration(this.ctl, this.commits, g);
    this.pending = undefined;
    this.commits.dropAfter(g.resumeStep);
    await this.commits.commit(g.resumeStep, this.progress);
  }

  /**
   * The epoch's progress at `step`: the newest commit's; a rank one step behind adds its share of
   * that step, which completed on another rank (see step-commit.ts).
   */
  private progressAt(step: number): EpochProgress {
    const c = this.commits.latest;
    if (!c) return freshProgress(0);
    const p = StepCommits.progressOf(c);
    const missed = this.pending;
    if (c.step !== step - 1 || missed?.step !== step - 1) return p;
    const epoch = Math.floor(missed.step / this.stepsPerEpoch) + 1;
    const out = p.epoch === epoch ? p : freshProgress(epoch);
    out.samples += missed.ids.length;
    out.lossSum += missed.lossSum;
    out.counters = addCounters(out.counters, missed.counters);
    out.ids.push(...missed.ids);
    return out;
  }

  get trainer() {
    return this.ctl.trainer;
  }

  async close(): Promise<void> {
    await this.ctl.close();
  }
}

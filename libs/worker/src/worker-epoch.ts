/**
 * One epoch on one rank: the rank's share of each global batch (shard-plan.ts), a reduced step per
 * global batch (every rank steps, even with an empty share, so the collectives line up), then
 * validation on the rank's share of the validation ids, reduced so every rank reports the same
 * totals, and a hash of the trainable weights for the coordinator's replica check.
 */
import { localEpochPlan, shardOf } from '@permafrost/data';
import {
  type ActivationBatch,
  addCounters,
  type BatchCounters,
  emptyCounters,
  evaluate,
  type FreezeController,
  type GradientReducer,
  type StepResult,
  weightsHash,
} from '@permafrost/trainer';

/** A boundary advance as the coordinator announced it. */
export interface AnnouncedFreeze {
  step: number;
  boundary: string;
}

export interface EpochContext {
  /** the model's boundary, source, suffix and trainer, moved by the freeze plan */
  ctl: FreezeController;
  reducer: GradientReducer;
  trainIds: readonly number[];
  valIds: readonly number[];
  seed: number;
  shards: readonly number[];
  shardCount: number;
  batchSize: number;
  onStep?: (step: number, steps: number, samples: number, lossSum: number, c: BatchCounters) => void;
}

export interface EpochOutcome {
  samples: number;
  trainLossSum: number;
  valLossSum: number;
  valCorrect: number;
  valCount: number;
  counters: BatchCounters;
  seconds: number;
  valSeconds: number;
  weightsHash: string;
  sampleIds: number[];
}

export class FreezeMismatch extends Error {
  override readonly name = 'FreezeMismatch';
}

/**
 * Applies this rank's freeze plan before global step `step` and checks it against the
 * coordinator's announcement: a rank that would reduce a different tensor set fails loudly here
 * instead of deadlocking in the allreduce.
 */
function beforeStep(ctx: EpochContext, step: number, announced: readonly AnnouncedFreeze[]): void {
  const own = ctx.ctl.beforeStep(step);
  const theirs = announced.find((e) => e.step === step);
  if ((own?.boundary ?? '') !== (theirs?.boundary ?? '')) {
    throw new FreezeMismatch(
      `freeze plan mismatch at step ${step}: the coordinator announced ${theirs ? `boundary ${theirs.boundary}` : 'no change'}, this worker's plan says ${own ? `boundary ${own.boundary}` : 'no change'}`,
    );
  }
}

/**
 * Reads the batch of global step `step` now, while a step's gradient is being reduced: that is
 * time a rank spends waiting for the slowest one, and the next batch's cache reads (a few ms)
 * fill it instead of following it. Only where the reads are cheap and come from where they will
 * come from: the last batch was all cache hits (a miss runs the frozen prefix, seconds of work
 * that would hold up this rank's end of the allreduce), and the boundary does not move before
 * that step (that changes the source).
 */
function prefetch(
  ctx: EpochContext,
  ids: number[] | undefined,
  step: number,
  announced: readonly AnnouncedFreeze[],
  lastMisses: number,
): Promise<ActivationBatch> | undefined {
  if (!ids || ids.length === 0 || lastMisses > 0 || !ctx.ctl.source.cached) return undefined;
  if (ctx.ctl.movesAt(step) || announced.some((e) => e.step === step)) return undefined;
  const p = ctx.ctl.source.batch(ids);
  // a failure surfaces when the step awaits it; until then it must not count as unhandled
  p.catch(() => undefined);
  return p;
}

export async function runWorkerEpoch(
  ctx: EpochContext,
  epoch: number,
  globalBatch: number,
  announced: readonly AnnouncedFreeze[] = [],
): Promise<EpochOutcome> {
  const t0 = performance.now();
  const plan = localEpochPlan(ctx.trainIds, ctx.seed, epoch, globalBatch, ctx.shards, ctx.shardCount);
  const firstStep = (epoch - 1) * plan.steps.length;
  let counters = emptyCounters();
  let samples = 0;
  let lossSum = 0;
  const sampleIds: number[] = [];
  // the next step's batch, read while this step's gradient is being reduced (see prefetch)
  let next: Promise<ActivationBatch> | undefined;
  for (let s = 0; s < plan.steps.length; s++) {
    beforeStep(ctx, firstStep + s, announced);
    const ids = plan.steps[s] as number[];
    const fetched = next;
    next = undefined;
    const batch = fetched ? await fetched : ids.length > 0 ? await ctx.ctl.source.batch(ids) : undefined;
    if (batch) counters = addCounters(counters, batch.counters);
    let r: StepResult;
    try {
      r = await ctx.ctl.trainer.step(batch?.activations, batch?.labels ?? new Int32Array(0), {
        reducer: ctx.reducer,
        globalCount: plan.globalCounts[s],
        whileReducing: () => {
          next = prefetch(ctx, plan.steps[s + 1], firstStep + s + 1, announced, batch?.counters.misses ?? 1);
        },
      });
    } catch (e) {
      // the job fails; the batch read meanwhile is not going to be trained
      void (next as Promise<ActivationBatch> | undefined)?.then((b) => b.activations.dispose()).catch(() => undefined);
      throw e;
    } finally {
      batch?.activations.dispose();
    }
    samples += ids.length;
    lossSum += r.lossSum;
    sampleIds.push(...ids);
    ctx.onStep?.(s + 1, plan.steps.length, samples, lossSum, counters);
    // On the wasm and cpu backends every await above settles without touching the event loop's
    // timer or I/O phases; yield to them once per step so heartbeats and progress go out (a
    // single worker, whose allreduce is a no-op, would otherwise look hung to the coordinator).
    await new Promise<void>((r) => setImmediate(r));
  }
  const seconds = (performance.now() - t0) / 1000;
  const tv = performance.now();
  const owned = new Set(ctx.shards);
  const localVal = ctx.valIds.filter((id) => owned.has(shardOf(id, ctx.shardCount)));
  const val = localVal.length > 0 ? await evaluate(ctx.ctl.suffix, ctx.ctl.source, localVal, ctx.batchSize) : undefined;
  const totals = Float32Array.from([
    val ? val.loss * localVal.length : 0,
    val ? Math.round(val.accuracy * localVal.length) : 0,
    localVal.length,
  ]);
  await ctx.reducer.allreduce(totals, 'validation-sums');
  if (val) counters = addCounters(counters, { ...emptyCounters(), ...val.counters, hits: 0, misses: 0 });
  return {
    samples,
    trainLossSum: lossSum,
    valLossSum: totals[0] as number,
    valCorrect: Math.round(totals[1] as number),
    valCount: Math.round(totals[2] as number),
    counters,
    seconds,
    valSeconds: (performance.now() - tv) / 1000,
    weightsHash: weightsHash(ctx.ctl.suffix),
    sampleIds,
  };
}

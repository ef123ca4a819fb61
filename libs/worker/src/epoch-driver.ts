/**
 * From the coordinator's commands to the training loop (docs/distributed.md#what-a-worker-does):
 *
 *   - EpochPlan: one `runEpoch` of the rank's loop (the coordinator's freeze events are checked
 *     against the rank's own plan), then rank 0 writes the checkpoint the plan asks for, and the
 *     rank's epoch goes up as an EpochResult. Step progress goes up at most once a second.
 *   - Halt, or a collective that fails (a peer died, stopped or was halted): the work in flight
 *     stops, nothing of it is reported, and the worker says Halted with the step of its newest
 *     commit (the loop commits after every step), then waits.
 *   - Regroup: the worker enters the new generation (a new transport and reducer, its shards,
 *     the state rank's state at the resume step: TrainingLoop.regroup) and continues the epoch
 *     at the resume step.
 *   - A graceful stop (graceful-stop.ts): at the next step boundary, or at once when idle, the
 *     work in hand ends as on Halt but nothing goes up, and the worker leaves.
 *   - SaveCommit (the job fails below minWorkers, or the coordinator stops, and this worker
 *     holds the newest commit): it writes the checkpoint of that commit where rank 0 writes epoch
 *     checkpoints, and answers with CommitSaved (the directory, or why it has none).
 */
import { CollectiveError } from '@permafrost/collective';
import { encodeRankEpoch } from '@permafrost/coordinator';
import type { JobSpec } from '@permafrost/job';
import type { WorkerObserver } from '@permafrost/observe';
import type { EpochPlan, Regroup } from '@permafrost/proto';
import { type Logger, log } from '@permafrost/telemetry';
import { checkpointRoot, type LoopEvent, type TrainingLoop } from '@permafrost/trainer';
import type { RingReducer } from './ring-reducer';
import type { TestPause } from './test-pause';
import { TimedReducer } from './timed-reducer';
import type { WorkerSession } from './worker-session';

const PROGRESS_EVERY_MS = 1000;

/** Where this worker stands in the current generation. */
export interface Place {
  rank: number;
  worldSize: number;
  reducer: RingReducer | undefined;
}

/** Builds this worker's reducer for a new generation (its transport retires the previous one). */
export type EnterGeneration = (r: Regroup, generation: bigint) => RingReducer;

export class EpochDriver {
  private lastProgress = 0;
  /** why the current generation stopped here, once it has */
  private halted: string | undefined;
  private reported = false;
  private busy = false;
  /** this worker left the job (graceful-stop.ts): no more work is started, nothing is reported */
  private left = false;
  /** called at every step boundary and whenever the driver goes idle (graceful-stop.ts) */
  onBoundary: (() => void) | undefined;
  /** the generation entered and when, until its first step completes */
  private entered: { generation: number; at: number } | undefined;

  constructor(
    private readonly loop: TrainingLoop,
    private session: WorkerSession,
    private readonly job: JobSpec,
    private place: Place,
    private readonly enter: EnterGeneration,
    private readonly observer: WorkerObserver,
    private readonly logger: Logger = log(),
    /** the test seam (test-pause.ts); does nothing in a real run */
    private readonly pause?: TestPause,
  ) {}

  /** The loop's events this driver reports (wire it as the loop's onEvent); every step updates the metrics. */
  onEvent(e: LoopEvent): void {
    if (e.type === 'freeze') this.observer.freeze(e.blocks.length);
    if (e.type === 'evaluate') this.pause?.at('validation', e.epoch);
    if (e.type !== 'step') return;
    if (e.step === 1) this.pause?.at('step', e.epoch);
    this.onBoundary?.();
    const split = this.observer.step(e);
    if (this.entered) {
      const { generation, at } = this.entered;
      this.logger.info('generation resumed', {
        generation,
        step: e.step,
        epoch: e.epoch,
        seconds: Math.round(performance.now() - at) / 1000,
      });
      this.entered = undefined;
    }
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_EVERY_MS && e.step < e.steps) return;
    this.lastProgress = now;
    const { epoch, step, steps, samples, lossSum, counters } = e;
    this.session.send({
      case: 'progress',
      value: {
        epoch,
        step,
        steps,
        samples,
        lossSum,
        cacheHits: counters.hits,
        cacheMisses: counters.misses,
        readSeconds: split.readSeconds,
        computeSeconds: split.computeSeconds,
        allreduceSeconds: split.allreduceSeconds,
        allreduceBytes: BigInt(split.allreduceBytes),
      },
    });
  }

  /** Reports through `session` from now on (a coordinator that took this worker back). */
  attach(session: WorkerSession): void {
    this.session = session;
  }

  run(plan: EpochPlan): Promise<void> {
    return this.task(() => this.epoch(plan));
  }

  /** The coordinator is forming a new generation: stop now, say Halted once idle. */
  halt(reason: string): void {
    if (this.left) return;
    if (this.halted === undefined) {
      this.halted = reason;
      this.place.reducer?.halt(reason);
    }
    if (!this.busy) this.reportHalted();
  }

  /** the global step of this rank's newest commit */
  get committedStep(): number | undefined {
    return this.loop.committedStep;
  }

  /** no epoch or regroup in flight: between plans, halted, or on standby */
  get idle(): boolean {
    return !this.busy;
  }

  /**
   * This worker leaves the job (graceful-stop.ts): the collective in flight fails as on Halt, the
   * work in hand ends quietly, no Halted goes up (the coordinator no longer counts this worker)
   * and later plans and regroups do nothing.
   */
  stop(reason: string): void {
    this.left = true;
    this.reported = true;
    this.halted ??= reason;
    this.place.reducer?.halt(reason);
  }

  regroup(r: Regroup, generation: bigint): Promise<void> {
    return this.task(async () => {
      const t0 = performance.now();
      const reducer = this.enter(r, generation);
      this.place = { rank: r.rank, worldSize: r.worldSize, reducer };
      this.halted = undefined;
      this.reported = false;
      const resumeStep = Number(r.resumeStep);
      await this.loop.regroup({
        reducer: new TimedReducer(reducer, this.observer),
        shards: r.shards,
        shardCount: r.shardCount,
        resumeStep,
        stateSource: r.stateRank === r.rank,
      });
      this.logger.info('generation entered', {
        generation: Number(generation),
        rank: r.rank,
        worldSize: r.worldSize,
        shards: r.shards.length,
        resumeStep,
        stateRank: r.stateRank,
        seconds: Math.round(performance.now() - t0) / 1000,
      });
      this.entered = { generation: Number(generation), at: t0 };
      if (r.epoch) await this.epoch(r.epoch, resumeStep);
    });
  }

  async saveCommit(reason: string): Promise<void> {
    let saved: { checkpointDir: string; step: bigint; error: string };
    try {
      const meta = { workers: this.place.worldSize, job: this.job, reason };
      const { dir, step } = await this.loop.checkpointCommit(checkpointRoot(this.job), meta);
      this.logger.warn('checkpoint of the last commit written', { dir, step, reason });
      saved = { checkpointDir: dir, step: BigInt(step), error: '' };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.logger.error('checkpoint of the last commit failed', { error });
      saved = { checkpointDir: '', step: 0n, error };
    }
    this.session.send({ case: 'commitSaved', value: saved });
  }

  /**
   * Runs `work`; a collective that fails ends it quietly (the generation is over: say Halted), any
   * other error fails the worker.
   */
  private async task(work: () => Promise<void>): Promise<void> {
    if (this.left) return;
    this.busy = true;
    try {
      await work();
    } catch (e) {
      if (!(e instanceof CollectiveError)) throw e;
      this.halted ??= e.message;
    } finally {
      this.busy = false;
    }
    if (this.halted !== undefined) this.reportHalted();
    this.onBoundary?.();
  }

  private reportHalted(): void {
    if (this.reported) return;
    this.reported = true;
    const step = this.loop.committedStep;
    this.logger.warn('halted', { reason: this.halted, committedStep: step });
    this.session.send({ case: 'halted', value: { committedStep: BigInt(step ?? 0), hasState: step !== undefined, reason: this.halted } });
  }

  private async epoch(plan: EpochPlan, fromStep?: number): Promise<void> {
    const r = await this.loop.runEpoch(plan.epoch, plan.freezeEvents, fromStep);
    this.observer.epochDone(
      r.valCount > 0 ? r.valLossSum / r.valCount : Number.NaN,
      r.valCount > 0 ? r.valCorrect / r.valCount : Number.NaN,
    );
    let checkpointDir = '';
    if (this.place.rank === 0 && plan.checkpoint) {
      const valAccuracy = r.valCount > 0 ? r.valCorrect / r.valCount : Number.NaN;
      this.pause?.at('checkpoint', plan.epoch);
      checkpointDir = await this.loop.checkpoint(checkpointRoot(this.job), plan.epoch, {
        valAccuracy,
        workers: this.place.worldSize,
        job: this.job,
      });
    }
    // halted meanwhile (the checkpoint has no collective): the next generation redoes this end
    if (this.halted !== undefined) return;
    this.logger.info('epoch done', {
      epoch: plan.epoch,
      samples: r.samples,
      seconds: Math.round(r.seconds * 100) / 100,
      cacheHits: r.trainCache.hits,
      cacheMisses: r.trainCache.misses,
    });
    this.session.send({ case: 'epochResult', value: encodeRankEpoch(r, checkpointDir) });
  }
}

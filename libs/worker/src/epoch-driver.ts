/**
 * From the coordinator's EpochPlans to the training loop: each plan is one `runEpoch` of the
 * rank's loop (the coordinator's freeze events are checked against the rank's own plan), then
 * rank 0 writes the checkpoint the plan asks for, and the rank's epoch goes up as an EpochResult.
 * Step progress goes up at most once a second.
 */
import { encodeRankEpoch } from '@permafrost/coordinator';
import type { JobSpec } from '@permafrost/job';
import type { WorkerObserver } from '@permafrost/observe';
import type { EpochPlan } from '@permafrost/proto';
import { type Logger, log } from '@permafrost/telemetry';
import { checkpointRoot, type LoopEvent, type TrainingLoop } from '@permafrost/trainer';
import type { WorkerSession } from './worker-session';

const PROGRESS_EVERY_MS = 1000;

export class EpochDriver {
  private lastProgress = 0;

  constructor(
    private readonly loop: TrainingLoop,
    private readonly session: WorkerSession,
    private readonly job: JobSpec,
    private readonly rank: number,
    private readonly worldSize: number,
    private readonly observer: WorkerObserver,
    private readonly logger: Logger = log(),
  ) {}

  /** The loop's events this driver reports (wire it as the loop's onEvent); every step updates the metrics. */
  onEvent(e: LoopEvent): void {
    if (e.type === 'freeze') this.observer.freeze(e.blocks.length);
    if (e.type !== 'step') return;
    const split = this.observer.step(e);
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

  async run(plan: EpochPlan): Promise<void> {
    const r = await this.loop.runEpoch(plan.epoch, plan.freezeEvents);
    this.observer.epochDone(
      r.valCount > 0 ? r.valLossSum / r.valCount : Number.NaN,
      r.valCount > 0 ? r.valCorrect / r.valCount : Number.NaN,
    );
    let checkpointDir = '';
    if (this.rank === 0 && plan.checkpoint) {
      const valAccuracy = r.valCount > 0 ? r.valCorrect / r.valCount : Number.NaN;
      checkpointDir = await this.loop.checkpoint(checkpointRoot(this.job), plan.epoch, {
        valAccuracy,
        workers: this.worldSize,
        job: this.job,
      });
    }
    this.logger.info('epoch done', { epoch: plan.epoch, samples: r.samples, seconds: Math.round(r.seconds * 100) / 100 });
    this.session.send({ case: 'epochResult', value: encodeRankEpoch(r, checkpointDir) });
  }
}

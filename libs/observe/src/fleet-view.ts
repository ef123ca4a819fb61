/**
 * The coordinator's view of its job (docs/observability.md#the-coordinator): fed the control
 * plane's events (membership, step progress, epoch records, the job's state), it keeps the status
 * view and the coordinator's Prometheus series. Workers report progress at most once a second,
 * cumulative over the epoch; the view turns the reports into per-worker deltas (samples, cache
 * lookups, step time by phase) and into fleet-wide points at the slowest worker's step.
 */

import { BoundedSeries } from './bounded-series';
import type { Health } from './http-server';
import { TrainMetrics } from './metrics';
import { type EpochPoint, type FreezeView, type MembershipEvent, measuredSpeedup, type StatusView, type StepPoint } from './status-view';
import { type ProgressInfo, WorkerTracker } from './worker-tracker';

export const JOB_STATES = ['joining', 'running', 'reforming', 'finished', 'failed'] as const;

/** What the coordinator knows before any worker joins. */
export interface FleetPlan {
  jobId: string;
  epochs: number;
  stepsPerEpoch: number;
  /** the first epoch this coordinator runs (after a resumed checkpoint: the one after it) */
  startEpoch: number;
  version: string;
  freeze?: {
    policy: string;
    blocks: { block: string; freezeStep: number | undefined; freezeEpoch: number | undefined }[];
    events: readonly { step: number; boundary: string }[];
    paperSpeedup: number;
    cachedSpeedup: number;
  };
}

/** The fields of an epoch record the view uses. */
export type EpochInfo = Omit<EpochPoint, 'cacheHitRate'> & { cacheHits: number; cacheMisses: number };

const MAX_POINTS = 2000;

export class FleetView {
  readonly metrics: TrainMetrics;
  private readonly startedAt = new Date();
  private readonly t0 = performance.now();
  private state: string = 'joining';
  private reason: string | undefined;
  private generation = 0;
  private readonly workers = new Map<string, WorkerTracker>();
  private readonly membershipEvents: MembershipEvent[] = [];
  private readonly failures: { at: string; reason: string }[] = [];
  private readonly epochPoints: EpochPoint[] = [];
  private readonly stepPoints = new BoundedSeries<StepPoint>(MAX_POINTS);
  private epoch = 0;
  private globalStep = 0;
  private runningSince: number | undefined;

  constructor(private readonly plan: FleetPlan) {
    this.metrics = new TrainMetrics('coordinator', plan.version);
    this.metrics.setState(this.state, JOB_STATES);
    this.metrics.generation.set(0);
    this.metrics.workers.set(0);
    this.metrics.frozenBlocks.set(0);
  }

  /** A membership formed: generation 1, then one per elastic change, with its reason. */
  membership(e: {
    generation: number | bigint;
    members: readonly { workerId: string; rank: number }[];
    reason: string;
    left?: readonly { workerId: string; reason: string }[];
  }): void {
    this.generation = Number(e.generation);
    const ids = new Set(e.members.map((m) => m.workerId));
    for (const id of [...this.workers.keys()]) if (!ids.has(id)) this.workers.delete(id);
    for (const m of e.members) {
      const w = this.workers.get(m.workerId) ?? new WorkerTracker(m.workerId, this.metrics, MAX_POINTS);
      w.rank = m.rank;
      this.workers.set(m.workerId, w);
    }
    const before = new Set(this.membershipEvents.at(-1)?.workers ?? []);
    const workers = [...ids].sort();
    this.membershipEvents.push({
      generation: this.generation,
      at: new Date().toISOString(),
      workers,
      left: [...before]
        .filter((id) => !ids.has(id))
        .map((workerId) => ({ workerId, reason: e.left?.find((l) => l.workerId === workerId)?.reason ?? '' })),
      joined: before.size === 0 ? [] : workers.filter((id) => !before.has(id)),
      reason: e.reason,
    });
    this.metrics.generation.set(this.generation);
    this.metrics.workers.set(ids.size);
  }

  progress(workerId: string, p: ProgressInfo): void {
    const w = this.workers.get(workerId);
    if (!w) return;
    this.runningSince ??= performance.now();
    w.report(p, this.seconds());
    if (p.epoch !== this.epoch) this.epoch = p.epoch;
    this.metrics.epoch.set(this.epoch);
    const current = [...this.workers.values()].map((x) => (x.epoch === this.epoch ? x.step : 0));
    this.advanceTo((this.epoch - this.plan.startEpoch) * this.plan.stepsPerEpoch + Math.min(...current));
    const mine = [...this.workers.values()].filter((x) => x.epoch === this.epoch);
    const samples = mine.reduce((a, x) => a + x.samples, 0);
    const lossSum = mine.reduce((a, x) => a + x.lossSum, 0);
    if (samples > 0) this.metrics.trainLoss.set(lossSum / samples);
    this.stepPoints.push({
      globalStep: this.globalStep,
      epoch: this.epoch,
      t: this.seconds(),
      loss: samples > 0 ? lossSum / samples : null,
      samplesPerSec: mine.reduce((a, x) => a + x.samplesPerSec, 0),
      cacheHitRate: hitRate(
        mine.reduce((a, x) => a + x.hits, 0),
        mine.reduce((a, x) => a + x.misses, 0),
      ),
    });
  }

  epochDone(r: EpochInfo): void {
    this.runningSince ??= performance.now();
    this.epoch = r.epoch;
    this.advanceTo((r.epoch - this.plan.startEpoch + 1) * this.plan.stepsPerEpoch);
    this.epochPoints.push({
      epoch: r.epoch,
      trainLoss: r.trainLoss,
      valLoss: r.valLoss,
      valAccuracy: r.valAccuracy,
      seconds: r.seconds,
      samplesPerSec: r.samplesPerSec,
      cacheHitRate: hitRate(r.cacheHits, r.cacheMisses),
      boundary: r.boundary,
      trainableLayers: r.trainableLayers,
    });
    if (Number.isFinite(r.valLoss)) this.metrics.valLoss.set(r.valLoss);
    if (Number.isFinite(r.valAccuracy)) this.metrics.valAccuracy.set(r.valAccuracy);
  }

  setState(state: (typeof JOB_STATES)[number], reason?: string): void {
    if (state === 'failed' && this.state !== 'failed') {
      this.failures.push({ at: new Date().toISOString(), reason: reason ?? '' });
      this.metrics.failures.inc();
    }
    this.state = state;
    if (reason) this.reason = reason;
    this.metrics.setState(state, JOB_STATES);
  }

  health(): Health {
    const ok = this.state !== 'failed';
    return {
      ok,
      body: {
        status: ok ? 'ok' : 'failed',
        role: 'coordinator',
        state: this.state,
        generation: this.generation,
        workers: this.workers.size,
      },
    };
  }

  private advanceTo(globalStep: number): void {
    if (globalStep <= this.globalStep) return;
    this.metrics.steps.inc(globalStep - this.globalStep);
    this.globalStep = globalStep;
    this.metrics.frozenBlocks.set(this.freezeView()?.blocks.filter((b) => b.frozen).length ?? 0);
  }

  private seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }

  private freezeView(): FreezeView | null {
    const f = this.plan.freeze;
    if (!f) return null;
    const done = (this.plan.startEpoch - 1) * this.plan.stepsPerEpoch + this.globalStep;
    return {
      policy: f.policy,
      blocks: f.blocks.map((b) => ({
        block: b.block,
        freezeStep: b.freezeStep ?? null,
        freezeEpoch: b.freezeEpoch ?? null,
        frozen: b.freezeStep !== undefined && b.freezeStep <= done,
      })),
      events: f.events.map((e) => ({ step: e.step, boundary: e.boundary })),
      paperSpeedup: f.paperSpeedup,
      cachedSpeedup: f.cachedSpeedup,
      measuredSpeedup: measuredSpeedup(this.epochPoints.map((e) => e.seconds)),
    };
  }

  status(): StatusView {
    const totalSteps = (this.plan.epochs - this.plan.startEpoch + 1) * this.plan.stepsPerEpoch;
    const workers = [...this.workers.values()].sort((a, b) => a.rank - b.rank).map((w) => w.view());
    const current = workers.filter((w) => w.epoch === this.epoch);
    const hits = current.reduce((a, w) => a + w.samples * (w.cacheHitRate ?? 0), 0);
    const looked = current.reduce((a, w) => a + (w.cacheHitRate === null ? 0 : w.samples), 0);
    const elapsed = this.runningSince === undefined ? 0 : (performance.now() - this.runningSince) / 1000;
    const eta = this.globalStep > 0 && this.state === 'running' ? (elapsed / this.globalStep) * (totalSteps - this.globalStep) : null;
    return {
      source: 'live',
      jobId: this.plan.jobId,
      state: this.state,
      ...(this.reason ? { reason: this.reason } : {}),
      startedAt: this.startedAt.toISOString(),
      updatedAt: new Date().toISOString(),
      generation: this.generation,
      epoch: this.epoch,
      epochs: this.plan.epochs,
      step: this.globalStep - Math.max(0, this.epoch - this.plan.startEpoch) * this.plan.stepsPerEpoch,
      stepsPerEpoch: this.plan.stepsPerEpoch,
      globalStep: this.globalStep,
      totalSteps,
      samplesPerSec: current.reduce((a, w) => a + w.samplesPerSec, 0),
      cacheHitRate: looked > 0 ? hits / looked : null,
      etaSeconds: this.state === 'finished' ? 0 : eta,
      workers,
      membership: [...this.membershipEvents],
      failures: [...this.failures],
      epochPoints: [...this.epochPoints],
      stepPoints: this.stepPoints.values,
      freeze: this.freezeView(),
    };
  }
}

export function hitRate(hits: number, misses: number): number | null {
  return hits + misses > 0 ? hits / (hits + misses) : null;
}

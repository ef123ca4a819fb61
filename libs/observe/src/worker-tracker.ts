/**
 * One worker as the coordinator sees it through its step progress reports (cumulative over the
 * epoch): the latest report, its samples/s over time, and the deltas between reports that feed
 * the coordinator's per-worker counters.
 */
import type { StepProgress } from '@permafrost/proto';
import { BoundedSeries } from './bounded-series';
import type { TrainMetrics } from './metrics';
import type { WorkerView } from './status-view';

/** A StepProgress message's fields (cumulative over the worker's epoch). */
export type ProgressInfo = Omit<StepProgress, '$typeName' | '$unknown'>;

const ZERO: ProgressInfo = {
  epoch: 0,
  step: 0,
  steps: 0,
  samples: 0,
  lossSum: 0,
  cacheHits: 0,
  cacheMisses: 0,
  readSeconds: 0,
  computeSeconds: 0,
  allreduceSeconds: 0,
  allreduceBytes: 0n,
};

export class WorkerTracker {
  rank = 0;
  private last: ProgressInfo = ZERO;
  private bytes = 0;
  private readonly rates: BoundedSeries<[number, number]>;

  constructor(
    readonly workerId: string,
    private readonly metrics: TrainMetrics,
    capacity: number,
  ) {
    this.rates = new BoundedSeries(capacity);
  }

  report(p: ProgressInfo, t: number): void {
    const prev = p.epoch === this.last.epoch ? this.last : { ...ZERO, allreduceBytes: this.bytes };
    const id = this.workerId;
    const m = this.metrics;
    m.samples.labels(id).inc(Math.max(0, p.samples - prev.samples));
    m.cacheHits.labels(id).inc(Math.max(0, p.cacheHits - prev.cacheHits));
    m.cacheMisses.labels(id).inc(Math.max(0, p.cacheMisses - prev.cacheMisses));
    m.phaseSeconds.labels(id, 'read').inc(Math.max(0, p.readSeconds - prev.readSeconds));
    m.phaseSeconds.labels(id, 'compute').inc(Math.max(0, p.computeSeconds - prev.computeSeconds));
    m.phaseSeconds.labels(id, 'allreduce').inc(Math.max(0, p.allreduceSeconds - prev.allreduceSeconds));
    const bytes = Number(p.allreduceBytes);
    m.allreduceBytes.labels(id).inc(Math.max(0, bytes - this.bytes));
    this.bytes = Math.max(this.bytes, bytes);
    this.last = p;
    this.rates.push([t, this.samplesPerSec]);
  }

  get epoch(): number {
    return this.last.epoch;
  }
  get step(): number {
    return this.last.step;
  }
  get samples(): number {
    return this.last.samples;
  }
  get lossSum(): number {
    return this.last.lossSum;
  }
  get hits(): number {
    return this.last.cacheHits;
  }
  get misses(): number {
    return this.last.cacheMisses;
  }

  /** the rank's own throughput: samples over the time its steps took this epoch */
  get samplesPerSec(): number {
    const p = this.last;
    const busy = p.readSeconds + p.computeSeconds + p.allreduceSeconds;
    return busy > 0 ? p.samples / busy : 0;
  }

  view(): WorkerView {
    const p = this.last;
    const looked = p.cacheHits + p.cacheMisses;
    return {
      workerId: this.workerId,
      rank: this.rank,
      epoch: p.epoch,
      step: p.step,
      samples: p.samples,
      samplesPerSec: this.samplesPerSec,
      readSeconds: p.readSeconds,
      computeSeconds: p.computeSeconds,
      allreduceSeconds: p.allreduceSeconds,
      cacheHitRate: looked > 0 ? p.cacheHits / looked : null,
      rates: this.rates.values,
    };
  }
}

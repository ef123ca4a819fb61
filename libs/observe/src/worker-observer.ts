/**
 * A worker's metrics and health (docs/observability.md#workers): the training loop's steps,
 * freeze events and epochs and every allreduce update the worker's Prometheus series; /healthz is
 * 200 once the worker has joined and while it has not failed.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Health } from './http-server';
import { TrainMetrics } from './metrics';
import { StepClock, type StepInfo, type StepSplit } from './step-clock';

export type WorkerState = 'joining' | 'training' | 'finished' | 'failed';

export class WorkerObserver {
  readonly metrics: TrainMetrics;
  private readonly clock = new StepClock();
  private state: WorkerState = 'joining';
  private frozen = 0;

  constructor(version: string, cacheDir?: string) {
    this.metrics = new TrainMetrics('worker', version, cacheDir ? cacheSize(cacheDir) : undefined);
  }

  setState(state: WorkerState): void {
    this.state = state;
  }

  health(): Health {
    const ok = this.state === 'training' || this.state === 'finished';
    return { ok, body: { status: ok ? 'ok' : this.state, role: 'worker', state: this.state } };
  }

  allreduce(seconds: number, bytes: number): void {
    this.clock.allreduce(seconds, bytes);
    this.metrics.allreduceDuration.observe(seconds);
    this.metrics.allreduceBytes.inc(bytes);
  }

  /** A training step; returns the epoch's step-time split so far (it goes up with the progress). */
  step(e: StepInfo): StepSplit {
    const d = this.clock.step(e);
    const m = this.metrics;
    m.epoch.set(e.epoch);
    m.steps.inc();
    m.samples.inc(d.samples);
    m.cacheHits.inc(d.hits);
    m.cacheMisses.inc(d.misses);
    m.stepDuration.observe(d.durationSeconds);
    m.phaseSeconds.labels('read').inc(d.readSeconds);
    m.phaseSeconds.labels('compute').inc(d.computeSeconds);
    m.phaseSeconds.labels('allreduce').inc(d.allreduceSeconds);
    if (e.samples > 0) m.trainLoss.set(e.lossSum / e.samples);
    return this.clock.split;
  }

  freeze(blocks: number): void {
    this.frozen += blocks;
    this.metrics.frozenBlocks.set(this.frozen);
  }

  epochDone(valLoss: number, valAccuracy: number): void {
    this.clock.endEpoch();
    if (Number.isFinite(valLoss)) this.metrics.valLoss.set(valLoss);
    if (Number.isFinite(valAccuracy)) this.metrics.valAccuracy.set(valAccuracy);
  }
}

/** how long a measured cache size stands: a scrape every second must not stat the cache every second */
const CACHE_SIZE_TTL_MS = 10_000;

/** Bytes of the files directly in `dir` (the LMDB data and lock files, the cache's metadata), re-read at most every 10 s. */
function cacheSize(dir: string): () => number {
  let bytes = 0;
  let at = Number.NEGATIVE_INFINITY;
  return () => {
    if (performance.now() - at < CACHE_SIZE_TTL_MS) return bytes;
    at = performance.now();
    bytes = 0;
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      // not created yet
    }
    for (const e of entries) {
      try {
        const s = statSync(join(dir, e));
        if (s.isFile()) bytes += s.size;
      } catch {
        // removed while we looked (a gc): not there
      }
    }
    return bytes;
  };
}

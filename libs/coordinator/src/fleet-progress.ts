/**
 * The coordinator's progress line: the workers' latest step reports of the current epoch,
 * summed (samples, loss, cache lookups), at the step the slowest worker has reached, with the
 * membership generation and the worker count. A membership change starts the sums again.
 */
import type { StepProgress } from '@permafrost/proto';
import type { RunProgress } from '@permafrost/telemetry';
import type { EpochRecord } from '@permafrost/trainer';

export class FleetProgress {
  private readonly latest = new Map<string, StepProgress>();
  private epochStarted = 0;
  private generation = 1;

  constructor(
    private readonly progress: RunProgress,
    private readonly epochs: number,
  ) {}

  step(workerId: string, p: StepProgress): void {
    if (this.latest.size === 0) this.epochStarted = performance.now();
    this.latest.set(workerId, p);
    const all = [...this.latest.values()];
    const sum = (f: (x: StepProgress) => number) => all.reduce((a, x) => a + f(x), 0);
    const samples = sum((x) => x.samples);
    const looked = sum((x) => x.cacheHits + x.cacheMisses);
    this.progress.step({
      epoch: p.epoch,
      epochs: this.epochs,
      step: Math.min(...all.map((x) => x.step)),
      steps: p.steps,
      samplesPerSec: samples / Math.max((performance.now() - this.epochStarted) / 1000, 1e-3),
      loss: samples > 0 ? sum((x) => x.lossSum) / samples : undefined,
      cacheHitRate: looked > 0 ? sum((x) => x.cacheHits) / looked : undefined,
      workers: all.length,
      generation: this.generation,
    });
  }

  regrouped(generation: number): void {
    this.generation = generation;
    this.latest.clear();
  }

  epochDone(r: EpochRecord): void {
    this.latest.clear();
    this.progress.epochDone(r, this.epochs);
  }
}

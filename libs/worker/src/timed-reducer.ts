/**
 * A gradient reducer that reports each allreduce's duration and size to the worker's metrics
 * (permafrost_allreduce_duration_seconds, permafrost_allreduce_bytes_total) and the step-time split.
 */
import type { WorkerObserver } from '@permafrost/observe';
import type { GradientReducer } from '@permafrost/trainer';

export class TimedReducer implements GradientReducer {
  constructor(
    private readonly inner: GradientReducer,
    private readonly observer: WorkerObserver,
  ) {}

  get worldSize(): number {
    return this.inner.worldSize;
  }

  async allreduce(buffer: Float32Array, signature: string): Promise<void> {
    const t0 = performance.now();
    await this.inner.allreduce(buffer, signature);
    this.observer.allreduce((performance.now() - t0) / 1000, buffer.byteLength);
  }
}

/**
 * The one seam between the training loop and the fleet. A step sums its gradient, loss and
 * count across ranks in place and divides by the global count, so every rank applies the mean
 * gradient of the whole global batch. A run of one process is world size 1: nothing to sum, and
 * the step divides its own sums (no copy through a flat buffer).
 */
export interface GradientReducer {
  /** ranks taking part; 1 for a single process */
  readonly worldSize: number;
  /** sums `buffer` across ranks in place; `signature` names the tensor set, equal on every rank */
  allreduce(buffer: Float32Array, signature: string): Promise<void>;
}

/** World size 1: every sum is already complete. */
export const localReducer: GradientReducer = {
  worldSize: 1,
  allreduce: async () => undefined,
};

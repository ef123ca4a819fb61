/**
 * Per-epoch sample order and batching. Each (seed, epoch) pair gets its own generator, so epoch 7
 * can be reproduced without replaying epochs 0-6 (resuming a job, or a worker that joins late).
 */
import { deriveSeed, seededRandom, shuffleInPlace } from './seeded-random';

const EPOCH_SALT = 0xe90c;

export function epochOrder(ids: readonly number[], seed: number, epoch: number): number[] {
  return shuffleInPlace([...ids], seededRandom(deriveSeed(seed, EPOCH_SALT, epoch)));
}

/** Consecutive chunks of `batchSize`; the last one may be smaller. */
export function batches<T>(items: readonly T[], batchSize: number): T[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += batchSize) out.push(items.slice(i, i + batchSize));
  return out;
}

/**
 * Shard plans for distributed training.
 *
 * A dataset's sample ids fall into S fixed shards (id mod S). Shards map to workers by rendezvous
 * (highest-random-weight) hashing: each shard goes to the worker whose hash of (shard, worker id)
 * is highest. A worker therefore keeps its shards, and its warm activation cache, across epochs
 * and restarts, and when a worker leaves or joins only the shards it owned (or wins) move.
 *
 * Per epoch every rank derives the same global order (epochOrder of all training ids) and cuts it
 * into global batches; in step s each rank trains the ids of global batch s that fall in its
 * shards. So every rank takes the same number of steps, every sample is trained exactly once, a
 * rank's local batch is its share of the global batch, and the union of one step's local batches
 * is exactly the single-process batch of that step (the equivalence the tests check).
 */
import { createHash } from 'node:crypto';
import { batches, epochOrder } from './epoch-order';

export function shardOf(sampleId: number, shardCount: number): number {
  return sampleId % shardCount;
}

function weight(shard: number, workerId: string): bigint {
  return createHash('sha256').update(`${shard}\u0000${workerId}`).digest().readBigUInt64BE(0);
}

/** Shard -> owner for every shard, by rendezvous hashing over `workerIds`. */
export function assignShards(shardCount: number, workerIds: readonly string[]): Map<string, number[]> {
  if (workerIds.length === 0) throw new RangeError('no workers to assign shards to');
  const out = new Map<string, number[]>(workerIds.map((w) => [w, []]));
  for (let s = 0; s < shardCount; s++) {
    let best = workerIds[0] as string;
    let bestWeight = -1n;
    for (const w of workerIds) {
      const x = weight(s, w);
      if (x > bestWeight || (x === bestWeight && w < best)) {
        best = w;
        bestWeight = x;
      }
    }
    out.get(best)?.push(s);
  }
  return out;
}

/** A sensible shard count: enough shards to balance a fleet, never more than the samples. */
export function defaultShardCount(samples: number): number {
  return Math.max(1, Math.min(256, samples));
}

export interface LocalEpochPlan {
  /** one list per global step (possibly empty): this rank's sample ids for that step */
  steps: number[][];
  /** the global batch size of each step (the divisor of the reduced gradient) */
  globalCounts: number[];
}

export function localEpochPlan(
  trainIds: readonly number[],
  seed: number,
  epoch: number,
  globalBatch: number,
  ownedShards: readonly number[],
  shardCount: number,
): LocalEpochPlan {
  const owned = new Set(ownedShards);
  const global = batches(epochOrder(trainIds, seed, epoch), globalBatch);
  return {
    steps: global.map((b) => b.filter((id) => owned.has(shardOf(id, shardCount)))),
    globalCounts: global.map((b) => b.length),
  };
}

/**
 * The epoch record of a run's report, in one process or across a fleet. Each rank's loop returns
 * a RankEpoch of sums (samples, losses, cache counters); the record is computed from the ranks'
 * sums in one place, so a single-process report (one rank) and a distributed one carry the same
 * fields with the same meaning.
 */
import { addCounters, type BatchCounters, emptyCounters } from './activation-source';

/** What one rank did in one epoch: sums, so that ranks add up. */
export interface RankEpoch {
  epoch: number;
  /** samples this rank trained */
  samples: number;
  trainLossSum: number;
  /** validation sums over every rank (the loop reduces them): equal on all ranks */
  valLossSum: number;
  valCorrect: number;
  valCount: number;
  /** cache counters of the training batches, and of this rank's validation share */
  trainCache: BatchCounters;
  valCache: BatchCounters;
  /** training seconds (validation not included) */
  seconds: number;
  valSeconds: number;
  /** SHA-256 of the trainable weights after the epoch (replica identity) */
  weightsHash: string;
  /** the ids this rank trained (exactly-once accounting) */
  sampleIds: number[];
  trainableLayers: number;
  boundary: string;
  /** whether the rank read the cache at the end of the epoch */
  cached: boolean;
}

export interface EpochRecord {
  epoch: number;
  /** training seconds: the slowest rank's (ranks step in lockstep) */
  seconds: number;
  /** from the start of the epoch to its last result: training, validation, checkpoint, messages */
  wallSeconds: number;
  samplesPerSec: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
  /** seconds spent evaluating (not in `seconds`) */
  valSeconds: number;
  /** training lookups that hit / missed the cache (without a cache every sample is a miss) */
  cacheHits: number;
  cacheMisses: number;
  /** values whose checksum failed, recomputed and rewritten (training and validation) */
  cacheChecksumFailures: number;
  /** bytes and seconds of cache reads and writes (training and validation) */
  cacheBytesRead: number;
  cacheBytesWritten: number;
  cacheReadSeconds: number;
  cacheWriteSeconds: number;
  /** whether the cache was in use at the end of the epoch */
  cached: boolean;
  trainableLayers: number;
  boundary: string;
  /** seconds spent running the frozen prefix for training batches (summed over ranks) */
  prefixSeconds: number;
  /** per rank: samples trained this epoch */
  samplesByRank: number[];
  /** the checkpoint written at the end of this epoch, if any */
  checkpoint: string | undefined;
}

/** The record of one epoch from every rank's sums, in rank order. */
export function epochRecord(ranks: readonly RankEpoch[], wallSeconds: number, checkpoint?: string): EpochRecord {
  const first = ranks[0];
  if (!first) throw new RangeError('an epoch record needs at least one rank');
  const sum = (f: (r: RankEpoch) => number) => ranks.reduce((a, r) => a + f(r), 0);
  const train = ranks.reduce((a, r) => addCounters(a, r.trainCache), emptyCounters());
  const all = ranks.reduce((a, r) => addCounters(a, r.valCache), train);
  const samples = sum((r) => r.samples);
  // a rank that reported no training time (0): the wall clock stands in
  const seconds = Math.max(...ranks.map((r) => r.seconds)) || wallSeconds;
  return {
    epoch: first.epoch,
    seconds,
    wallSeconds,
    samplesPerSec: samples / Math.max(seconds, 1e-9),
    trainLoss: sum((r) => r.trainLossSum) / Math.max(samples, 1),
    valLoss: first.valCount > 0 ? first.valLossSum / first.valCount : Number.NaN,
    valAccuracy: first.valCount > 0 ? first.valCorrect / first.valCount : Number.NaN,
    valSeconds: Math.max(...ranks.map((r) => r.valSeconds)),
    cacheHits: train.hits,
    cacheMisses: train.misses,
    cacheChecksumFailures: all.checksumFailures,
    cacheBytesRead: all.bytesRead,
    cacheBytesWritten: all.bytesWritten,
    cacheReadSeconds: all.readMs / 1000,
    cacheWriteSeconds: all.writeMs / 1000,
    cached: ranks.every((r) => r.cached),
    trainableLayers: first.trainableLayers,
    boundary: first.boundary,
    prefixSeconds: train.prefixMs / 1000,
    samplesByRank: ranks.map((r) => r.samples),
    checkpoint,
  };
}

/**
 * Turning every rank's EpochResult into one epoch record, and the two invariants checked at each
 * epoch end: replica identity (all trainable-weight hashes equal) and exactly-once (the trained
 * ids, over all ranks, are the training set, each once).
 */
import type { EpochResult } from '@permafrost/proto';
import type { EpochRecord } from '@permafrost/trainer';
import type { Member } from './membership';

/** The DESIGN §5 epoch record, summed over ranks, plus what only a fleet has. */
export interface EpochSummary
  extends Pick<
    EpochRecord,
    | 'epoch'
    | 'seconds'
    | 'samplesPerSec'
    | 'trainLoss'
    | 'valLoss'
    | 'valAccuracy'
    | 'valSeconds'
    | 'cacheHits'
    | 'cacheMisses'
    | 'cacheBytesRead'
    | 'cacheBytesWritten'
    | 'trainableLayers'
    | 'boundary'
  > {
  /**
   * the coordinator's clock from announcing the epoch to the last rank's result: training plus
   * validation, the rank-0 checkpoint and the round trips (`seconds` is the training alone, as
   * in a single-process run's report)
   */
  wallSeconds: number;
  weightsHash: string;
  checkpoint: string | undefined;
  /** per rank: samples trained this epoch */
  samplesByRank: number[];
}

export function summarizeEpoch(
  epoch: number,
  byRank: { member: Member; result: EpochResult }[],
  trainIds: readonly number[],
  wallSeconds: number,
): { summary: EpochSummary; problem?: string } {
  const hashes = byRank.map((r) => r.result.weightsHash);
  let problem: string | undefined;
  if (new Set(hashes).size > 1) {
    problem = `replicas diverged after epoch ${epoch}: ${byRank.map((r) => `rank ${r.member.rank} ${r.result.weightsHash.slice(0, 12)}`).join(', ')}`;
  }
  const trained = byRank.flatMap((r) => r.result.sampleIds);
  const expected = new Set(trainIds);
  const seen = new Set<number>();
  let duplicates = 0;
  for (const id of trained) {
    if (seen.has(id)) duplicates++;
    else seen.add(id);
  }
  const missing = trainIds.filter((id) => !seen.has(id));
  const extra = [...seen].filter((id) => !expected.has(id));
  if (!problem && (duplicates || missing.length || extra.length)) {
    problem = `epoch ${epoch} did not train every sample exactly once: ${duplicates} duplicated, ${missing.length} missing, ${extra.length} unexpected`;
  }
  const sum = (f: (r: EpochResult) => number) => byRank.reduce((a, r) => a + f(r.result), 0);
  const samples = sum((r) => r.samples);
  const first = byRank[0]?.result;
  // ranks step in lockstep (every step ends in an allreduce): the slowest one's training time is
  // the fleet's; a result without it (0) falls back to the wall clock
  const seconds = Math.max(...byRank.map((r) => r.result.seconds)) || wallSeconds;
  const summary: EpochSummary = {
    epoch,
    seconds,
    samplesPerSec: samples / seconds,
    wallSeconds,
    trainLoss: sum((r) => r.trainLossSum) / Math.max(samples, 1),
    valLoss: first && first.valCount > 0 ? first.valLossSum / first.valCount : Number.NaN,
    valAccuracy: first && first.valCount > 0 ? first.valCorrect / first.valCount : Number.NaN,
    valSeconds: Math.max(...byRank.map((r) => r.result.valSeconds)),
    cacheHits: sum((r) => r.cacheHits),
    cacheMisses: sum((r) => r.cacheMisses),
    cacheBytesRead: sum((r) => Number(r.cacheBytesRead)),
    cacheBytesWritten: sum((r) => Number(r.cacheBytesWritten)),
    trainableLayers: first?.trainableLayers ?? 0,
    boundary: first?.boundary ?? '',
    weightsHash: first?.weightsHash ?? '',
    checkpoint: byRank.find((r) => r.result.checkpointDir)?.result.checkpointDir,
    samplesByRank: byRank.map((r) => r.result.samples),
  };
  return problem ? { summary, problem } : { summary };
}

/**
 * A rank's epoch on the wire: the loop's RankEpoch as the EpochResult a worker sends up its
 * Session, and back. Both directions live here so that they stay inverse to each other.
 */
import { create } from '@bufbuild/protobuf';
import { type CacheCounters, CacheCountersSchema, type EpochResult, EpochResultSchema } from '@permafrost/proto';
import { type BatchCounters, emptyCounters, type RankEpoch } from '@permafrost/trainer';

export function encodeRankEpoch(r: RankEpoch, checkpointDir: string): EpochResult {
  return create(EpochResultSchema, {
    epoch: r.epoch,
    samples: r.samples,
    trainLossSum: r.trainLossSum,
    valLossSum: r.valLossSum,
    valCorrect: r.valCorrect,
    valCount: r.valCount,
    seconds: r.seconds,
    valSeconds: r.valSeconds,
    weightsHash: r.weightsHash,
    sampleIds: r.sampleIds,
    checkpointDir,
    trainableLayers: r.trainableLayers,
    boundary: r.boundary,
    trainCache: encodeCounters(r.trainCache),
    valCache: encodeCounters(r.valCache),
    cached: r.cached,
  });
}

export function decodeRankEpoch(m: EpochResult): { rank: RankEpoch; checkpointDir: string } {
  const rank: RankEpoch = {
    epoch: m.epoch,
    samples: m.samples,
    trainLossSum: m.trainLossSum,
    valLossSum: m.valLossSum,
    valCorrect: m.valCorrect,
    valCount: m.valCount,
    trainCache: decodeCounters(m.trainCache),
    valCache: decodeCounters(m.valCache),
    seconds: m.seconds,
    valSeconds: m.valSeconds,
    weightsHash: m.weightsHash,
    sampleIds: m.sampleIds,
    trainableLayers: m.trainableLayers,
    boundary: m.boundary,
    cached: m.cached,
  };
  return { rank, checkpointDir: m.checkpointDir };
}

function encodeCounters(c: BatchCounters): CacheCounters {
  return create(CacheCountersSchema, {
    hits: c.hits,
    misses: c.misses,
    checksumFailures: c.checksumFailures,
    bytesRead: BigInt(Math.round(c.bytesRead)),
    bytesWritten: BigInt(Math.round(c.bytesWritten)),
    readSeconds: c.readMs / 1000,
    writeSeconds: c.writeMs / 1000,
    prefixSeconds: c.prefixMs / 1000,
  });
}

/** Counters a worker reports; what only its own cache records (entries and bytes added) stays there. */
function decodeCounters(c: CacheCounters | undefined): BatchCounters {
  if (!c) return emptyCounters();
  return {
    ...emptyCounters(),
    hits: c.hits,
    misses: c.misses,
    checksumFailures: c.checksumFailures,
    bytesRead: Number(c.bytesRead),
    bytesWritten: Number(c.bytesWritten),
    readMs: c.readSeconds * 1000,
    writeMs: c.writeSeconds * 1000,
    prefixMs: c.prefixSeconds * 1000,
  };
}

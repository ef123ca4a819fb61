import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { EpochResultSchema } from '@permafrost/proto';
import { epochRecord, type RankEpoch } from '@permafrost/trainer';
import { checkEpoch } from './epoch-checks';
import { decodeRankEpoch, encodeRankEpoch } from './session-codec';

/** a rank's epoch as it arrives from the wire */
const rank = (ids: number[], hash = 'h', extra = {}): RankEpoch =>
  decodeRankEpoch(
    create(EpochResultSchema, {
      epoch: 1,
      samples: ids.length,
      trainLossSum: ids.length,
      sampleIds: ids,
      weightsHash: hash,
      valLossSum: 2,
      valCorrect: 3,
      valCount: 4,
      ...extra,
    }),
  ).rank;

describe('epoch record and checks of a fleet', () => {
  it('adds up the ranks and passes when every sample was trained once on identical replicas', () => {
    const ranks = [rank([1, 3]), rank([2])];
    assert.equal(checkEpoch(1, ranks, [1, 2, 3]), undefined);
    const summary = epochRecord(ranks, 2);
    // no rank reported its training time: the wall clock stands in
    assert.equal(summary.samplesPerSec, 1.5);
    assert.equal(summary.wallSeconds, 2);
    assert.equal(summary.trainLoss, 1);
    assert.equal(summary.valLoss, 0.5);
    assert.equal(summary.valAccuracy, 0.75);
    assert.deepEqual(summary.samplesByRank, [2, 1]);
  });

  it('times the epoch by its slowest rank, keeping the wall clock apart', () => {
    const summary = epochRecord([rank([1, 3], 'h', { seconds: 0.5 }), rank([2], 'h', { seconds: 1 })], 4);
    assert.equal(summary.seconds, 1);
    assert.equal(summary.samplesPerSec, 3);
    assert.equal(summary.wallSeconds, 4);
  });

  it('names the ranks whose weights differ', () => {
    const problem = checkEpoch(2, [rank([1], 'aaaa'), rank([2], 'bbbb')], [1, 2]);
    assert.match(problem ?? '', /replicas diverged after epoch 2: rank 0 aaaa, rank 1 bbbb/);
  });

  it('reports duplicated and missing samples', () => {
    const problem = checkEpoch(1, [rank([1, 2]), rank([2])], [1, 2, 3]);
    assert.match(problem ?? '', /1 duplicated, 1 missing, 0 unexpected/);
  });

  it('carries every field of a rank epoch over the wire unchanged', () => {
    const counters = {
      hits: 3,
      misses: 1,
      checksumFailures: 1,
      bytesRead: 300,
      bytesWritten: 100,
      entriesAdded: 0,
      bytesAdded: 0,
      readMs: 5,
      writeMs: 2,
      prefixMs: 40,
    };
    const sent: RankEpoch = {
      ...rank([4, 5]),
      trainCache: counters,
      valCache: { ...counters, hits: 0, misses: 0 },
      seconds: 1.5,
      valSeconds: 0.25,
      trainableLayers: 3,
      boundary: 'block_2_add',
      cached: true,
    };
    const back = decodeRankEpoch(encodeRankEpoch(sent, 'ckpt/final'));
    assert.deepEqual(back.rank, sent);
    assert.equal(back.checkpointDir, 'ckpt/final');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { EpochResultSchema } from '@permafrost/proto';
import { summarizeEpoch } from './epoch-summary';

const member = (rank: number) => ({ workerId: `w${rank}`, peerAddress: '', backend: 'wasm', rank, shards: [] });
const result = (ids: number[], hash = 'h', extra = {}) =>
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
  });

describe('epoch summary', () => {
  it('adds up the ranks and passes when every sample was trained once on identical replicas', () => {
    const { summary, problem } = summarizeEpoch(
      1,
      [
        { member: member(0), result: result([1, 3]) },
        { member: member(1), result: result([2]) },
      ],
      [1, 2, 3],
      2,
    );
    assert.equal(problem, undefined);
    // no rank reported its training time: the wall clock stands in
    assert.equal(summary.samplesPerSec, 1.5);
    assert.equal(summary.wallSeconds, 2);
    assert.equal(summary.trainLoss, 1);
    assert.equal(summary.valLoss, 0.5);
    assert.equal(summary.valAccuracy, 0.75);
    assert.deepEqual(summary.samplesByRank, [2, 1]);
  });

  it('times the epoch by its slowest rank, keeping the wall clock apart', () => {
    const { summary } = summarizeEpoch(
      1,
      [
        { member: member(0), result: result([1, 3], 'h', { seconds: 0.5 }) },
        { member: member(1), result: result([2], 'h', { seconds: 1 }) },
      ],
      [1, 2, 3],
      4,
    );
    assert.equal(summary.seconds, 1);
    assert.equal(summary.samplesPerSec, 3);
    assert.equal(summary.wallSeconds, 4);
  });

  it('names the ranks whose weights differ', () => {
    const { problem } = summarizeEpoch(
      2,
      [
        { member: member(0), result: result([1], 'aaaa') },
        { member: member(1), result: result([2], 'bbbb') },
      ],
      [1, 2],
      1,
    );
    assert.match(problem ?? '', /replicas diverged after epoch 2: rank 0 aaaa, rank 1 bbbb/);
  });

  it('reports duplicated and missing samples', () => {
    const { problem } = summarizeEpoch(
      1,
      [
        { member: member(0), result: result([1, 2]) },
        { member: member(1), result: result([2]) },
      ],
      [1, 2, 3],
      1,
    );
    assert.match(problem ?? '', /1 duplicated, 1 missing, 0 unexpected/);
  });
});

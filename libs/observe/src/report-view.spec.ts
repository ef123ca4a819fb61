import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunReport } from '@permafrost/trainer';
import { reportView } from './report-view';

// the fields reportView reads of a fleet's report whose local-1 was lost, then came back with local-3
const report = {
  jobId: 'j',
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:01:00.000Z',
  train: { batchSize: 8 },
  data: { trainSamples: 80 },
  final: { samplesPerSec: 10 },
  epochs: [],
  members: [
    { rank: 0, workerId: 'local-0', shards: 4 },
    { rank: 1, workerId: 'local-1', shards: 4 },
    { rank: 2, workerId: 'local-3', shards: 4 },
  ],
  membership: [
    {
      generation: 2,
      epoch: 1,
      resumeStep: 5,
      workers: 1,
      left: [{ workerId: 'local-1', reason: 'disconnected' }],
      joined: [],
      secondsLost: 1,
    },
    { generation: 3, epoch: 2, resumeStep: 12, workers: 3, left: [], joined: ['local-1', 'local-3'], secondsLost: 2 },
  ],
} as unknown as RunReport;

describe('reportView', () => {
  it("rebuilds each generation's workers from the last members and the changes", () => {
    const v = reportView(report);
    assert.equal(v.generation, 3);
    assert.deepEqual(
      v.membership.map((m) => [m.generation, m.workers, m.left.map((l) => l.workerId), m.joined]),
      [
        [1, ['local-0', 'local-1'], [], []],
        [2, ['local-0'], ['local-1'], []],
        [3, ['local-0', 'local-1', 'local-3'], [], ['local-1', 'local-3']],
      ],
    );
    assert.deepEqual(
      v.membership.map((m) => m.reason),
      ['formed', 'worker local-1 disconnected', 'worker local-1, local-3 joins'],
    );
  });
});

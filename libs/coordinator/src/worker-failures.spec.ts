import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkerFailures } from './worker-failures';

describe('per-worker exclusion', () => {
  it('excludes a worker at its loss beyond maxWorkerFailures, and only that worker', () => {
    const f = new WorkerFailures('job-a', 2);
    assert.equal(f.lost('w1', 'disconnected'), false);
    assert.equal(f.lost('w1', 'stopped answering'), false);
    assert.equal(f.lost('w2', 'disconnected'), false);
    assert.equal(f.excluded('w1'), false);
    assert.equal(f.lost('w1', 'failed: out of memory'), true);
    assert.equal(f.excluded('w1'), true);
    assert.equal(f.excluded('w2'), false);
    assert.equal(f.lost('w1', 'disconnected'), false, 'excluded once');
    assert.equal(f.refusal('w1').message, 'worker w1 is excluded from job job-a: it was lost 3 times (cluster.maxWorkerFailures 2)');
    assert.equal(f.refusal('w1').code, 'failed-precondition');
  });

  it('does not count a worker that left of its own accord', () => {
    const f = new WorkerFailures('job-a', 0);
    assert.equal(f.lost('w1', 'left: drained'), false);
    assert.equal(f.excluded('w1'), false);
    assert.equal(f.lost('w1', 'disconnected'), true);
  });
});

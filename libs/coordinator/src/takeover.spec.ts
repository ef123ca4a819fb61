import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { assignShards, localEpochPlan } from '@permafrost/data';
import { JoinRequestSchema } from '@permafrost/proto';
import { ShardLedger } from './generations';
import { Takeover } from './takeover';

const back = (workerId: string, generation: bigint, step: number, epoch: number, hasState = true) =>
  create(JoinRequestSchema, {
    workerId,
    peerAddress: '127.0.0.1:1',
    rejoin: { generation, committedStep: BigInt(step), committedEpoch: epoch, hasState },
  });

describe('taking back the workers of a lost coordinator', () => {
  it('numbers its first generation after every one a worker came back from, and continues from the newest commit', () => {
    const t = new Takeover(true, 30);
    t.note(back('b', 3n, 44, 2));
    t.note(back('a', 2n, 45, 2));
    t.note(back('c', 4n, 99, 4, false));
    assert.equal(t.generationAfter(1n), 5n);
    assert.equal(t.active([{ workerId: 'c' }]), false);
    assert.equal(t.active([{ workerId: 'a' }, { workerId: 'fresh' }]), true);
    assert.deepEqual(t.resumePoint(['a', 'b', 'c', 'fresh']), { step: 45, stateWorker: 'a', epoch: 2 });
    // a commit at an epoch's last step belongs to that epoch (its end is redone); before any epoch: by step
    t.note(back('a', 2n, 60, 2));
    assert.deepEqual(t.resumePoint(['a']), { step: 60, stateWorker: 'a', epoch: 2 });
    t.note(back('a', 2n, 60, 0));
    assert.deepEqual(t.resumePoint(['a']), { step: 60, stateWorker: 'a', epoch: 3 });
    // the same id started fresh forgets its report
    t.note(create(JoinRequestSchema, { workerId: 'a', peerAddress: '127.0.0.1:1' }));
    assert.deepEqual(t.resumePoint(['a', 'b']), { step: 44, stateWorker: 'b', epoch: 2 });
  });

  it('a coordinator not started with --resume refuses a returning worker, naming --resume', () => {
    const t = new Takeover(false, 30);
    assert.throws(
      () => t.note(back('a', 2n, 45, 2)),
      /worker a comes back with the state of generation 2 at step 45; only a coordinator started with --resume/,
    );
    t.note(create(JoinRequestSchema, { workerId: 'a', peerAddress: '127.0.0.1:1' }));
  });

  it('credits the steps before the resume step that no rank reports, so the epoch adds up exactly once', () => {
    const trainIds = Array.from({ length: 300 }, (_, i) => i);
    const o = { trainIds, seed: 7, globalBatch: 20, shardCount: 16, stepsPerEpoch: 15 };
    const ledger = new ShardLedger(o);
    const before = assignShards(16, ['a', 'b', 'c']);
    const now = assignShards(16, ['a', 'c']);
    const epoch = 2;
    const resume = 21;
    const trained = (shards: readonly number[], from: number, to: number) =>
      localEpochPlan(trainIds, o.seed, epoch, o.globalBatch, shards, o.shardCount)
        .steps.slice(from - 15, to - 15)
        .flat();
    // b did not come back: a and c report their ids from the epoch's start; b's before the resume step are credited
    ledger.startEpoch();
    ledger.takeover(epoch, resume);
    const reported = [
      ...trained(before.get('a') ?? [], 15, resume),
      ...trained(before.get('c') ?? [], 15, resume),
      ...trained(now.get('a') ?? [], resume, 30),
      ...trained(now.get('c') ?? [], resume, 30),
    ];
    const credited = ledger.creditedFor(epoch, reported);
    assert.deepEqual(
      [...credited].sort((x, y) => x - y),
      [...trained(before.get('b') ?? [], 15, resume)].sort((x, y) => x - y),
    );
    assert.deepEqual(
      [...reported, ...credited].sort((x, y) => x - y),
      trainIds,
    );
    // other epochs are not touched
    assert.deepEqual(ledger.creditedFor(epoch + 1, []), ledger.credited);
  });
});

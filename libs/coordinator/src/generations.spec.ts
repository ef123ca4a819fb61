import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignShards, localEpochPlan } from '@permafrost/data';
import { Reform, ShardLedger } from './generations';
import { Membership } from './membership';

const info = (id: string) => ({ workerId: id, peerAddress: `127.0.0.1:${id.length}`, backend: 'wasm' });

describe('generations', () => {
  it('resumes at the newest step a survivor committed, from a survivor that holds it', () => {
    const r = new Reform('test');
    r.halted.set('a', { step: 40, hasState: true });
    r.halted.set('b', { step: 41, hasState: true });
    r.halted.set('c', { step: 99, hasState: false });
    r.left.set('d', 'disconnected');
    assert.deepEqual(r.waitingFor(['a', 'b', 'c', 'd', 'e']), ['e']);
    assert.deepEqual(r.resumePoint(['a', 'b', 'c']), { step: 41, stateWorker: 'b' });
    assert.equal(r.resumePoint(['c']), undefined);
  });

  it('a new generation moves only the shards of the worker that left', async () => {
    const m = new Membership({ expected: 3, minWorkers: 3, joinTimeoutMs: 5000, shardCount: 64 });
    const [first] = await Promise.all(['a', 'b', 'c'].map((id) => m.join(info(id))));
    const before = new Map(first?.members.map((x) => [x.workerId, x.shards]));
    const next = m.next([info('a'), info('c')]);
    assert.equal(next.generation, 2n);
    assert.deepEqual(
      next.members.map((x) => [x.workerId, x.rank]),
      [
        ['a', 0],
        ['c', 1],
      ],
    );
    for (const x of next.members)
      for (const s of before.get(x.workerId) ?? []) assert.ok(x.shards.includes(s), `${x.workerId} kept shard ${s}`);
  });

  it('credits what a lost worker trained this epoch, so the ids add up to the training set exactly once', () => {
    const trainIds = Array.from({ length: 300 }, (_, i) => i);
    const o = { trainIds, seed: 7, globalBatch: 20, shardCount: 16, stepsPerEpoch: 15 };
    const ledger = new ShardLedger(o);
    const gen1 = assignShards(16, ['a', 'b', 'c']);
    const gen2 = assignShards(16, ['a', 'c']);
    // epoch 2 (steps 15..29): b is lost, the survivors resume at step 21
    const epoch = 2;
    const resume = 21;
    ledger.startEpoch();
    ledger.credit(epoch, gen1.get('b') ?? [], resume);
    ledger.moved(gen1, gen2, resume);
    const trained = (shards: readonly number[], from: number, to: number) =>
      localEpochPlan(trainIds, o.seed, epoch, o.globalBatch, shards, o.shardCount)
        .steps.slice(from - 15, to - 15)
        .flat();
    const ids = [
      ...trained(gen1.get('a') ?? [], 15, resume),
      ...trained(gen1.get('c') ?? [], 15, resume),
      ...trained(gen2.get('a') ?? [], resume, 30),
      ...trained(gen2.get('c') ?? [], resume, 30),
      ...ledger.credited,
    ];
    assert.deepEqual(
      [...ids].sort((x, y) => x - y),
      trainIds,
    );
    ledger.startEpoch();
    assert.deepEqual(ledger.credited, []);
  });

  it('credits the steps a mid-epoch checkpoint had trained to the epoch a resumed job continues', () => {
    const trainIds = Array.from({ length: 300 }, (_, i) => i);
    const o = { trainIds, seed: 7, globalBatch: 20, shardCount: 16, stepsPerEpoch: 15 };
    const ledger = new ShardLedger(o);
    ledger.startEpoch();
    ledger.resumed(2, 21);
    const all = Array.from({ length: 16 }, (_, s) => s);
    const plan = localEpochPlan(trainIds, o.seed, 2, o.globalBatch, all, o.shardCount);
    assert.deepEqual(
      [...ledger.credited, ...plan.steps.slice(6).flat()].sort((x, y) => x - y),
      trainIds,
    );
    ledger.startEpoch();
    ledger.resumed(3, 30);
    assert.deepEqual(ledger.credited, [], 'a checkpoint at the epoch boundary trained none of the next epoch');
  });
});

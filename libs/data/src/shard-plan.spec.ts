import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batches, epochOrder } from './epoch-order';
import { assignShards, localEpochPlan, shardOf } from './shard-plan';

const ids = Array.from({ length: 500 }, (_, i) => i * 3);

describe('shard plan', () => {
  it('assigns every shard to exactly one worker, roughly evenly', () => {
    const a = assignShards(256, ['w-a', 'w-b', 'w-c']);
    const all = [...a.values()].flat().sort((x, y) => x - y);
    assert.deepEqual(
      all,
      Array.from({ length: 256 }, (_, i) => i),
    );
    for (const shards of a.values()) assert.ok(shards.length > 40, `${shards.length} shards`);
  });

  it('is sticky: a leaving worker moves only its own shards', () => {
    const before = assignShards(64, ['w-a', 'w-b', 'w-c']);
    const after = assignShards(64, ['w-a', 'w-c']);
    for (const w of ['w-a', 'w-c']) {
      for (const s of before.get(w) ?? []) assert.ok(after.get(w)?.includes(s), `shard ${s} stayed with ${w}`);
    }
    assert.deepEqual(assignShards(64, ['w-c', 'w-a', 'w-b']), before, 'independent of the order of ids');
  });

  it('gives equal step counts, exactly-once samples, and the single-process global batches', () => {
    const workers = ['w-a', 'w-b', 'w-c'];
    const a = assignShards(16, workers);
    const plans = workers.map((w) => localEpochPlan(ids, 7, 2, 32, a.get(w) ?? [], 16));
    const single = batches(epochOrder(ids, 7, 2), 32);
    for (const p of plans) assert.equal(p.steps.length, single.length);
    single.forEach((batch, s) => {
      const union = plans.flatMap((p) => p.steps[s] ?? []);
      assert.deepEqual(
        [...union].sort((x, y) => x - y),
        [...batch].sort((x, y) => x - y),
      );
      assert.equal(plans[0]?.globalCounts[s], batch.length);
    });
    const seen = plans.flatMap((p) => p.steps.flat());
    assert.equal(seen.length, ids.length);
    assert.equal(new Set(seen).size, ids.length);
    for (const [i, p] of plans.entries()) {
      for (const id of p.steps.flat()) assert.ok(a.get(workers[i] as string)?.includes(shardOf(id, 16)));
    }
  });
});

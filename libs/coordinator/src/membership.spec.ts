import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Membership, MembershipError } from './membership';

const info = (id: string) => ({ workerId: id, peerAddress: `127.0.0.1:${id.length}`, backend: 'wasm' });

describe('membership', () => {
  it('holds joins until everyone is there, then ranks by worker id', async () => {
    const m = new Membership({ expected: 3, minWorkers: 3, joinTimeoutMs: 5000, shardCount: 32 });
    const c = m.join(info('c'));
    const a = m.join(info('a'));
    assert.equal(m.formed, undefined);
    const b = m.join(info('b'));
    const [fc, fa, fb] = await Promise.all([c, a, b]);
    assert.equal(fa, fc);
    assert.equal(fb, fc);
    assert.deepEqual(
      fa.members.map((x) => [x.workerId, x.rank]),
      [
        ['a', 0],
        ['b', 1],
        ['c', 2],
      ],
    );
    assert.equal(fa.generation, 1n);
    assert.equal(
      fa.members.reduce((n, x) => n + x.shards.length, 0),
      32,
    );
    await assert.rejects(m.join(info('d')), (e: unknown) => e instanceof MembershipError && e.code === 'failed-precondition');
    await assert.rejects(m.join(info('a')), (e: unknown) => e instanceof MembershipError && e.code === 'already-exists');
  });

  it('refuses a duplicate id while waiting', async () => {
    const m = new Membership({ expected: 2, minWorkers: 2, joinTimeoutMs: 5000, shardCount: 4 });
    const first = m.join(info('a'));
    await assert.rejects(m.join(info('a')), /already waiting/);
    m.join(info('b'));
    assert.equal((await first).members.length, 2);
  });

  it('forms with the minimum after the join timeout, or fails below it', async () => {
    const enough = new Membership({ expected: 3, minWorkers: 2, joinTimeoutMs: 50, shardCount: 4 });
    const [x] = await Promise.all([enough.join(info('a')), enough.join(info('b'))]);
    assert.equal(x.members.length, 2);
    const short = new Membership({ expected: 3, minWorkers: 2, joinTimeoutMs: 50, shardCount: 4 });
    await assert.rejects(
      short.join(info('a')),
      (e: unknown) => e instanceof MembershipError && /only 1 of 2 workers joined within 50 ms/.test(e.message),
    );
  });

  it('gives one certificate one place, and remembers which certificate each member joined with', async () => {
    const m = new Membership({ expected: 2, minWorkers: 2, joinTimeoutMs: 5000, shardCount: 8 });
    const a = m.join({ ...info('a'), identity: 'worker-0' });
    await assert.rejects(
      m.join({ ...info('b'), identity: 'worker-0' }),
      (e: unknown) => e instanceof MembershipError && e.code === 'already-exists' && !e.message.includes("'a'"),
    );
    const b = m.join({ ...info('b'), identity: 'worker-1' });
    await Promise.all([a, b]);
    assert.equal(m.identityOf('a'), 'worker-0');
    assert.equal(m.identityOf('b'), 'worker-1');
    assert.equal(m.identityOf('c'), undefined);
  });
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ActivationCache, CacheError } from './activation-cache';
import type { FingerprintRecord } from './fingerprint-record';
import { collectGarbage, GcRefusedError } from './gc';
import { activationKey } from './keys';
import { fillCache } from './spec-fixtures';

const root = mkdtempSync(join(tmpdir(), 'permafrost-gc-'));
after(() => rmSync(root, { recursive: true, force: true }));
const HOUR = 3_600_000;

async function records(dir: string): Promise<FingerprintRecord[]> {
  const c = ActivationCache.open(dir, { readOnly: true });
  const r = c.fingerprints();
  await c.close();
  return r;
}

describe('cache gc', () => {
  it('removes superseded fingerprints, in bounded transactions, and keeps the rest', async () => {
    const dir = join(root, 'a');
    const [a, b, c] = await fillCache(dir, ['aa', 'bb', 'cc'], [1, 2, 3, 5, 8]);
    const w = ActivationCache.open(dir);
    assert.equal(w.markSuperseded('aa', 'bb'), true);
    assert.equal(w.markSuperseded('cc', 'bb'), true);
    assert.equal(w.markSuperseded('zz', 'bb'), false);
    await w.close();
    const dry = await collectGarbage(dir, { dryRun: true, keep: ['cc'] });
    assert.deepEqual(
      dry.removed.map((r) => [r.fingerprint, r.reason, r.entries]),
      [['aa', 'superseded', 5]],
    );
    assert.equal((await records(dir)).length, 3, 'a dry run changes nothing');
    const r = await collectGarbage(dir, { keep: ['cc'], batchEntries: 2 });
    assert.equal(r.entriesDeleted, 5);
    assert.equal(r.bytesReclaimed, 5 * (8 + 6 * 4));
    assert.equal(r.keptFingerprints, 2);
    const left = ActivationCache.open(dir, { readOnly: true });
    assert.deepEqual(
      left.fingerprints().map((x) => x.fingerprint),
      ['bb', 'cc'],
    );
    assert.deepEqual(left.sampleIds((a as { id: number }).id), []);
    assert.deepEqual(left.sampleIds((b as { id: number }).id), [1, 2, 3, 5, 8]);
    assert.deepEqual(left.sampleIds((c as { id: number }).id), [1, 2, 3, 5, 8]);
    await left.close();
  });

  it('removes unused fingerprints by last use only when asked, and orphaned entries always', async () => {
    const dir = join(root, 'b');
    await fillCache(dir, ['aa', 'bb'], [0, 1]);
    const c = ActivationCache.open(dir);
    // entries of fingerprint id 7, which has no record (a gc killed half-way)
    c.databases.values.putSync(activationKey(7, 3), Buffer.alloc(12));
    await c.close();
    const later = Date.now() + 2 * HOUR;
    assert.deepEqual(
      (await collectGarbage(dir, { dryRun: true, now: later })).removed.map((r) => [r.id, r.reason, r.entries]),
      [[7, 'orphaned', 1]],
    );
    const r = await collectGarbage(dir, { olderThanMs: HOUR, keep: ['bb'], now: later });
    assert.deepEqual(
      r.removed.map((x) => [x.fingerprint, x.reason]),
      [
        ['aa', 'unused'],
        ['', 'orphaned'],
      ],
    );
    assert.deepEqual(
      (await records(dir)).map((x) => x.fingerprint),
      ['bb'],
    );
    const none = await collectGarbage(dir, { olderThanMs: 3 * HOUR, now: later });
    assert.equal(none.removed.length, 0);
  });

  it('refuses while a run writes the cache, and never creates or adopts a directory', async () => {
    const dir = join(root, 'c');
    await fillCache(dir, ['aa'], [0]);
    const writer = ActivationCache.open(dir);
    await assert.rejects(collectGarbage(dir), (e: unknown) => e instanceof GcRefusedError && /being written by pid \d+/.test(e.message));
    assert.equal((await collectGarbage(dir, { dryRun: true })).liveWriters, 1, 'a dry run reports the writer');
    await writer.close();
    assert.equal((await collectGarbage(dir)).liveWriters, 0);
    await assert.rejects(
      collectGarbage(join(root, 'missing')),
      (e: unknown) => e instanceof CacheError && /does not exist/.test(e.message),
    );
    mkdirSync(join(root, 'other'));
    writeFileSync(join(root, 'other', 'x.txt'), 'x');
    await assert.rejects(collectGarbage(join(root, 'other')), /not a Permafrost cache/);
  });

  it('un-supersedes a fingerprint that a run registers again', async () => {
    const dir = join(root, 'd');
    await fillCache(dir, ['aa', 'bb'], [0]);
    const c = ActivationCache.open(dir);
    c.markSuperseded('aa', 'bb');
    assert.equal(c.fingerprints()[0]?.supersededBy, 'bb');
    c.register({ ...(c.fingerprints()[0] as FingerprintRecord) });
    assert.equal(c.fingerprints()[0]?.supersededBy, undefined);
    await c.close();
  });

  it('writes a compacted copy that is smaller after removing most entries', async () => {
    const dir = join(root, 'e');
    await fillCache(
      dir,
      ['aa', 'bb'],
      Array.from({ length: 200 }, (_, i) => i),
    );
    const c = ActivationCache.open(dir);
    c.markSuperseded('aa', 'bb');
    await c.close();
    const r = await collectGarbage(dir, { compactTo: join(root, 'e-compact') });
    assert.ok(r.compactedTo && r.compactedTo.fileBytes < r.fileBytes, JSON.stringify(r.compactedTo));
    assert.deepEqual(
      (await records(join(root, 'e-compact'))).map((x) => x.fingerprint),
      ['bb'],
    );
    await assert.rejects(collectGarbage(dir, { compactTo: join(root, 'e-compact') }), /exists/);
  });
});

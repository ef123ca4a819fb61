import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ActivationCache, CacheError } from './activation-cache';
import type { FingerprintRecord } from './fingerprint-record';
import { findFingerprint, fingerprintRows, showEntry, summarize } from './inspect';
import { activationKey } from './keys';
import { fillCache } from './spec-fixtures';
import { cacheStats } from './stats';

const root = mkdtempSync(join(tmpdir(), 'permafrost-inspect-'));
after(() => rmSync(root, { recursive: true, force: true }));

const rec = (id: number, fingerprint: string) => ({ id, fingerprint }) as FingerprintRecord;

describe('finding a fingerprint', () => {
  const records = [rec(1, 'ab12'), rec(2, 'ab34'), rec(12, 'cd56')];
  it('takes the numeric id or a unique hex prefix', () => {
    assert.equal(findFingerprint(records, '2').fingerprint, 'ab34');
    assert.equal(findFingerprint(records, 'AB1').id, 1);
    assert.equal(findFingerprint(records, 'cd').id, 12);
  });
  it('names the candidates when the reference is ambiguous or unknown', () => {
    assert.throws(
      () => findFingerprint(records, 'ab'),
      (e: unknown) => e instanceof CacheError && /matches 2 fingerprints/.test(e.message),
    );
    assert.throws(() => findFingerprint(records, 'ef'), /no fingerprint 'ef'.*1 \(ab12\)/);
    assert.throws(() => findFingerprint(records, 'x!'), /neither a fingerprint id nor/);
  });
});

describe('summaries', () => {
  it('give min, max, mean, std and zeros, leaving non-finite values out', () => {
    const s = summarize(Float32Array.from([0, 0, 2, 4, Number.NaN]));
    assert.deepEqual({ ...s }, { elements: 5, min: 0, max: 4, mean: 1.5, std: Math.sqrt(2.75), zeroFraction: 0.4, nonFinite: 1 });
  });
});

describe('a cache read for people', () => {
  it('lists rows, shows an entry with its checksum status, and counts stats that agree with LMDB', async () => {
    const dir = join(root, 'a');
    await fillCache(dir, ['aa', 'bb'], [0, 1, 2]);
    const w = ActivationCache.open(dir);
    w.markSuperseded('aa', 'bb');
    const bad = w.rawValue(2, 1) as Buffer;
    bad[9] = (bad[9] as number) ^ 1;
    w.databases.values.putSync(activationKey(2, 1), bad);
    await w.close();
    const c = ActivationCache.open(dir, { readOnly: true });
    const records = c.fingerprints();
    assert.deepEqual(
      fingerprintRows(records, 'bb').map((r) => [r.id, r.current, r.supersededBy, r.entries]),
      [
        [1, false, 'bb', 3],
        [2, true, undefined, 3],
      ],
    );
    const good = showEntry(c, records[0] as FingerprintRecord, 2);
    assert.equal(good.checksum, 'ok');
    assert.deepEqual(good.summary?.min, 102);
    const corrupt = showEntry(c, records[1] as FingerprintRecord, 1);
    assert.equal(corrupt.checksum, 'failed');
    assert.equal(corrupt.problem, 'checksum mismatch');
    assert.ok(corrupt.values, 'a corrupt value can still be looked at');
    assert.throws(() => showEntry(c, records[0] as FingerprintRecord, 7), /not cached .* holds samples 0, 1, 2/);
    const s = cacheStats(c);
    assert.equal(s.fingerprints, 2);
    assert.equal(s.superseded, 1);
    assert.equal(s.entries, 6);
    assert.equal(s.storedEntries, 6);
    assert.equal(s.misses, 6);
    assert.equal(s.bytes, 6 * 32);
    assert.ok(s.lmdb.fileBytes <= s.lmdb.mapSize);
    assert.equal(s.lmdb.pages * s.lmdb.pageSize <= s.lmdb.fileBytes + s.lmdb.pageSize, true);
    assert.ok(s.lmdb.pagesInUse >= 5 && s.lmdb.freePages >= 0);
    assert.deepEqual(s.writers, []);
    await c.close();
  });
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ActivationCache, CacheError } from './activation-cache';
import { activationKey, parseKey } from './keys';
import { fingerprintInfo as info } from './spec-fixtures';

const root = mkdtempSync(join(tmpdir(), 'permafrost-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('activation keys', () => {
  it('sort by fingerprint id, then sample id', () => {
    const keys = [activationKey(2, 1), activationKey(1, 256), activationKey(1, 3), activationKey(256, 0)];
    const sorted = [...keys].sort(Buffer.compare).map(parseKey);
    assert.deepEqual(sorted, [
      { fingerprintId: 1, sampleId: 3 },
      { fingerprintId: 1, sampleId: 256 },
      { fingerprintId: 2, sampleId: 1 },
      { fingerprintId: 256, sampleId: 0 },
    ]);
  });
});

describe('ActivationCache', () => {
  it('stores, reads back and persists across reopen, with per-fingerprint records', async () => {
    const dir = join(root, 'a');
    const c = ActivationCache.open(dir);
    const h = c.register(info('aa'));
    const h2 = c.register(info('bb'));
    assert.equal(h.id, 1);
    assert.equal(h2.id, 2);
    assert.equal(c.register(info('aa')).id, 1, 'same fingerprint, same id');
    const v = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const bytes = c.putMany(h, [[7, v]]);
    assert.equal(bytes, 8 + 24);
    await c.flush();
    const out = new Float32Array(12);
    assert.equal(c.get(h, 7, out, 6), 'hit');
    assert.deepEqual(out.subarray(6), v);
    assert.equal(c.get(h, 8, out, 0), 'miss');
    assert.equal(c.get(h2, 7, out, 0), 'miss', 'fingerprints do not share entries');
    c.recordUsage(h, { hits: 3, misses: 1, checksumFailures: 0, entriesAdded: 1, bytesAdded: bytes });
    await c.close();

    const again = ActivationCache.open(dir, { readOnly: true });
    const recs = again.fingerprints();
    assert.deepEqual(
      recs.map((r) => [r.id, r.fingerprint, r.entries, r.hits, r.misses, r.bytes]),
      [
        [1, 'aa', 1, 3, 1, 32],
        [2, 'bb', 0, 0, 0, 0],
      ],
    );
    const h3 = { id: 1, fingerprint: 'aa', elements: 6 };
    assert.equal(again.get(h3, 7, out, 0), 'hit');
    await again.close();
  });

  it('refuses a directory that is not a Permafrost cache, and a missing one when read-only', () => {
    const other = join(root, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'x');
    assert.throws(
      () => ActivationCache.open(other),
      (e: unknown) => e instanceof CacheError && /not a Permafrost cache/.test(e.message),
    );
    assert.throws(() => ActivationCache.open(join(root, 'missing'), { readOnly: true }), /does not exist/);
    const file = join(root, 'file');
    writeFileSync(file, 'x');
    assert.throws(() => ActivationCache.open(join(file, 'sub')), CacheError);
  });

  it('writes float16 values in half the bytes', async () => {
    const c = ActivationCache.open(join(root, 'f16'), { codec: 'float16' });
    const h = c.register(info('cc'));
    assert.equal(c.putMany(h, [[1, Float32Array.from([0.5, -1, 2, 3, 4, 1024])]]), 8 + 12);
    await c.flush();
    const out = new Float32Array(6);
    assert.equal(c.get(h, 1, out, 0), 'hit');
    assert.deepEqual(Array.from(out), [0.5, -1, 2, 3, 4, 1024]);
    await c.close();
  });

  it('reads a value of the older format as a miss, not a checksum failure, and one under another key as corrupt', async () => {
    const c = ActivationCache.open(join(root, 'formats'));
    const h = c.register(info('dd'));
    const v = Float32Array.from([1, 2, 3, 4, 5, 6]);
    c.putMany(h, [
      [1, v],
      [2, v],
    ]);
    const { values } = c.databases;
    const old = Buffer.from(c.rawValue(h.id, 1) as Buffer);
    old[0] = 1; // format version 1
    values.putSync(activationKey(h.id, 1), old);
    values.putSync(activationKey(h.id, 3), c.rawValue(h.id, 2) as Buffer); // sample 2's value under sample 3
    await c.flush();
    const out = new Float32Array(6);
    assert.equal(c.get(h, 1, out, 0), 'miss');
    assert.equal(c.get(h, 2, out, 0), 'hit');
    assert.equal(c.get(h, 3, out, 0), 'corrupt');
    await c.close();
  });
});

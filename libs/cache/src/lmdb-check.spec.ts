import assert from 'node:assert/strict';
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ActivationCache, CacheError, ENV_FILE, MARKER } from './activation-cache';
import { checkLmdbFile } from './lmdb-file-check';
import { checkLmdbTrees, salvageLmdbEntries } from './lmdb-tree-check';
import { repairCache } from './repair';
import { fingerprintInfo } from './spec-fixtures';

const root = mkdtempSync(join(tmpdir(), 'permafrost-lmdb-check-'));
after(() => rmSync(root, { recursive: true, force: true }));
const good = join(root, 'good');
const SAMPLES = 300;

/** 300 small values (on leaf pages) under one fingerprint, 20 large ones (on overflow pages) under another. */
before(async () => {
  const c = ActivationCache.open(good);
  const small = c.register(fingerprintInfo('aa', [40]));
  const large = c.register(fingerprintInfo('bb', [2000]));
  c.putMany(
    small,
    Array.from({ length: SAMPLES }, (_, s) => [s, Float32Array.from({ length: 40 }, (_, k) => s + k / 64)] as const),
  );
  c.putMany(
    large,
    Array.from({ length: 20 }, (_, s) => [s, new Float32Array(2000).fill(s)] as const),
  );
  await c.close();
});

function copy(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const f of [ENV_FILE, MARKER]) copyFileSync(join(good, f), join(dir, f));
  return dir;
}

/** Overwrites the page holding `needle` from byte 40 on: its nodes become garbage, its header stays. */
function scribbleOver(file: string, needle: Buffer): number {
  const bytes = readFileSync(file);
  const at = bytes.indexOf(needle);
  assert.ok(at > 0 && bytes.indexOf(needle, at + 1) === -1);
  const page = Math.floor(at / 4096);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(4096 - 40, 0xa5), 0, 4096 - 40, page * 4096 + 40);
  closeSync(fd);
  return page;
}

const rawOf = async (dir: string, fp: number, sample: number) => {
  const c = ActivationCache.open(dir, { readOnly: true });
  try {
    return c.rawValue(fp, sample) as Buffer;
  } finally {
    await c.close();
  }
};

describe('LMDB file checks', () => {
  it('read the current meta and walk every tree page of a sound file', () => {
    const file = checkLmdbFile(join(good, ENV_FILE));
    assert.equal(file.ok, true);
    assert.equal(file.meta?.pageSize, 4096);
    assert.ok((file.meta?.requiredBytes ?? 0) <= file.fileBytes);
    const trees = checkLmdbTrees(join(good, ENV_FILE));
    assert.deepEqual([trees.ok, trees.problem], [true, undefined]);
    assert.ok(trees.pages > 3, `${trees.pages} pages`);
  });

  it('find a truncated file before LMDB maps it: a corrupt CacheError, not a SIGBUS', () => {
    const dir = copy('truncated');
    truncateSync(join(dir, ENV_FILE), Math.floor(statSync(join(dir, ENV_FILE)).size / 2));
    assert.match(checkLmdbFile(join(dir, ENV_FILE)).problem ?? '', /LMDB's last page \d+ .*needs \d+: it was truncated/);
    for (const readOnly of [true, false]) {
      assert.throws(
        () => ActivationCache.open(dir, { readOnly }),
        (e: unknown) =>
          e instanceof CacheError && e.corrupt && /is corrupt: cache.mdb: .*truncated; run `permafrost cache repair/.test(e.message),
      );
    }
  });

  it('find a damaged leaf page and a damaged overflow pointer', async () => {
    const leaf = copy('leaf');
    const page = scribbleOver(join(leaf, ENV_FILE), await rawOf(leaf, 1, 150));
    assert.match(checkLmdbTrees(join(leaf, ENV_FILE)).problem ?? '', new RegExp(`database activations: page ${page}`));
    assert.throws(
      () => ActivationCache.open(leaf),
      (e: unknown) => e instanceof CacheError && e.corrupt,
    );
    // a large value's first overflow page no longer says it is one
    const ov = copy('overflow');
    const value = await rawOf(ov, 2, 5);
    const bytes = readFileSync(join(ov, ENV_FILE));
    const ovPage = Math.floor(bytes.indexOf(value) / 4096);
    const fd = openSync(join(ov, ENV_FILE), 'r+');
    writeSync(fd, Buffer.from([0x02, 0x00]), 0, 2, ovPage * 4096 + 18);
    closeSync(fd);
    assert.match(checkLmdbTrees(join(ov, ENV_FILE)).problem ?? '', new RegExp(`points to page ${ovPage}, which is not its overflow page`));
  });

  it('salvage the reachable entries of a damaged file; repair keeps exactly the values that still check', async () => {
    const dir = copy('repair');
    scribbleOver(join(dir, ENV_FILE), await rawOf(dir, 1, 150));
    let seen = 0;
    const walk = salvageLmdbEntries(join(dir, ENV_FILE), (db) => {
      if (db === 'activations') seen++;
    });
    assert.ok(walk.skipped.length > 0);
    assert.ok(seen > 20 && seen < SAMPLES + 20, `${seen} entries reached`);
    const r = await repairCache(dir);
    assert.equal(r.fingerprints.find((f) => f.id === 2)?.kept, 20, 'the large values are on other pages');
    const kept = r.fingerprints.find((f) => f.id === 1)?.kept ?? 0;
    assert.ok(kept > 0 && kept < SAMPLES, `kept ${kept}`);
    assert.ok(r.damagedFile && statSync(r.damagedFile).isFile());
    const c = ActivationCache.open(dir, { readOnly: true });
    const out = new Float32Array(40);
    const ids = c.sampleIds(1);
    assert.equal(ids.length, kept);
    for (const s of ids) {
      assert.equal(c.get({ id: 1, fingerprint: 'aa', elements: 40 }, s, out, 0), 'hit');
      assert.equal(out[1], s + 1 / 64);
    }
    await c.close();
  });
});

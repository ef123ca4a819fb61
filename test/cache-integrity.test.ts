/**
 * "Nothing stale, nothing crashed": the real CLI on real files. A same-size rewrite of every image
 * is a new fingerprint (0 hits); a value copied under another key fails its keyed checksum and is
 * recomputed; a truncated and a page-damaged cache.mdb leave `train` running uncached (exit 0, one
 * warning that says how to fix it), make `verify` report CORRUPT (exit 1), and `repair` keeps what
 * is readable; a one-class and a corrupt-image dataset stop at start (exit 2) naming the files;
 * every log line of every run is a JSON object.
 */
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ActivationCache, activationKey, decodeValue, type FingerprintRecord } from '@permafrost/cache';
import sharp from 'sharp';
import { type CliResult, runCli, tempDir } from './support';

const tmp = tempDir('cache-integrity');
const base = join(tmp.path, 'base');

const train = (cacheDir: string, report: string, dataset = 'mnist', extra: string[] = []) => [
  'train',
  '--model',
  'cnn-small',
  '--input-size',
  '16',
  '--dataset',
  dataset,
  ...(dataset === 'mnist' ? ['--train-samples', '200', '--val-samples', '50'] : []),
  '--epochs',
  '1',
  '--batch-size',
  '50',
  '--backend',
  'wasm',
  '--cache-dir',
  cacheDir,
  '--checkpoint-dir',
  join(tmp.path, 'ck'),
  '--report',
  report,
  ...extra,
];

interface Epoch {
  cacheHits: number;
  cacheMisses: number;
  cacheChecksumFailures: number;
  cached: boolean;
}
const epochOf = (report: string): Epoch => JSON.parse(readFileSync(report, 'utf8')).epochs[0];

/** The one-line error of a run that stopped at start; every other line is a JSON log line. */
function userErrorLine(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const errors = lines.filter((l) => l.startsWith('permafrost: '));
  assert.equal(errors.length, 1, r.stderr);
  for (const l of lines) if (l !== errors[0]) JSON.parse(l);
  assert.doesNotMatch(r.stderr, /"msg":"epoch|\n\s+at /, 'stopped before training, without a stack');
  return errors[0] as string;
}

/** Every stderr line is one JSON object (the log format when stderr is not a terminal). */
function assertJsonLines(r: CliResult): Record<string, unknown>[] {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const notJson = lines.filter((l) => {
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });
  assert.deepEqual(notJson, [], `log lines that are not JSON:\n${r.stderr}`);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

function copyCache(name: string): string {
  const dir = join(tmp.path, name);
  mkdirSync(dir);
  for (const f of ['cache.mdb', 'permafrost-cache.json']) copyFileSync(join(base, f), join(dir, f));
  return dir;
}

async function readOnly<T>(dir: string, fn: (c: ActivationCache, r: FingerprintRecord) => T): Promise<T> {
  const c = ActivationCache.open(dir, { readOnly: true });
  try {
    return fn(c, c.fingerprints()[0] as FingerprintRecord);
  } finally {
    await c.close();
  }
}

/** The one warning of a run on a damaged cache, and that the run trained uncached. */
async function trainsUncached(dir: string, name: string): Promise<void> {
  const report = join(tmp.path, `${name}.json`);
  const r = await runCli(train(dir, report));
  assert.equal(r.code, 0, r.stderr);
  const warnings = assertJsonLines(r).filter((l) => l.level === 'warn');
  assert.equal(warnings.length, 1, r.stderr);
  assert.equal(warnings[0]?.msg, 'activation cache unavailable; training uncached');
  assert.match(
    String(warnings[0]?.error),
    new RegExp(`the cache in ${dir} is corrupt: .*permafrost cache repair --cache-dir ${dir}.*or delete ${dir}`),
  );
  const e = epochOf(report);
  assert.deepEqual([e.cached, e.cacheHits, e.cacheMisses], [false, 0, 200]);
}

/** verify: CORRUPT, exit 1; repair: keeps some but not all entries, which verify then passes. */
async function verifyAndRepair(dir: string): Promise<number> {
  const verify = await runCli(['cache', 'verify', '--cache-dir', dir], { env: { PERMAFROST_LOG: 'warn' } });
  assert.equal(verify.code, 1, verify.stderr);
  assert.match(verify.stdout, new RegExp(`^CORRUPT: the cache in ${dir} is corrupt: cache.mdb: `));
  assert.match(verify.stderr, /permafrost: verify: .* is corrupt/);
  assert.doesNotMatch(verify.stderr, /internal error|at .*\.ts:\d+/);
  const ls = await runCli(['cache', 'ls', '--cache-dir', dir]);
  assert.equal(ls.code, 1, ls.stderr);
  assert.match(ls.stderr, /is corrupt.*cache repair/);
  const repair = await runCli(['cache', 'repair', '--cache-dir', dir, '--json']);
  assert.equal(repair.code, 0, repair.stderr);
  const r = JSON.parse(repair.stdout);
  assert.ok(r.keptEntries > 0 && r.keptEntries < 250, `kept ${r.keptEntries} of 250`);
  assert.ok(r.damageCount > 0);
  const again = await runCli(['cache', 'verify', '--cache-dir', dir, '--all', '--json'], { env: { PERMAFROST_LOG: 'warn' } });
  assert.equal(again.code, 0, again.stderr);
  const [fp] = JSON.parse(again.stdout).fingerprints;
  assert.deepEqual([fp.status, fp.storedEntries, fp.corrupt], ['ok', r.keptEntries, []]);
  return r.keptEntries;
}

describe('cache integrity (real runs)', () => {
  before(async () => {
    const r = await runCli(train(base, join(tmp.path, 'base.json')));
    assert.equal(r.code, 0, r.stderr);
    assertJsonLines(r);
  });

  it('a value copied under another key fails its keyed checksum and is recomputed', async () => {
    const dir = copyCache('swapped');
    const c = ActivationCache.open(dir);
    const rec = c.fingerprints()[0] as FingerprintRecord;
    const [from, to] = c.sampleIds(rec.id).slice(3, 5) as [number, number];
    const elements = rec.shape.reduce((a, b) => a * b, 1);
    const { values } = c.databases;
    // what a damaged file with swapped page pointers shows: intact bytes under the wrong key
    values.putSync(activationKey(rec.id, to), c.rawValue(rec.id, from) as Buffer);
    await c.close();
    const report = join(tmp.path, 'swapped.json');
    const r = await runCli(train(dir, report));
    assert.equal(r.code, 0, r.stderr);
    assertJsonLines(r);
    const e = epochOf(report);
    assert.equal(e.cacheChecksumFailures, 1);
    assert.equal(e.cached, true);
    await readOnly(dir, (cache, record) => {
      const out = new Float32Array(elements);
      assert.ok(
        decodeValue(cache.rawValue(record.id, to) as Buffer, out, 0, elements, { fingerprintId: record.id, sampleId: to }),
        'rewritten',
      );
      const other = new Float32Array(elements);
      decodeValue(cache.rawValue(record.id, from) as Buffer, other, 0, elements, { fingerprintId: record.id, sampleId: from });
      assert.notDeepEqual(out, other, 'the recomputed value is its own sample');
    });
  });

  it('a truncated cache.mdb: train goes on uncached with one warning, verify says CORRUPT, repair keeps what is readable', async () => {
    const dir = copyCache('truncated');
    truncateSync(join(dir, 'cache.mdb'), Math.floor(statSync(join(dir, 'cache.mdb')).size / 2));
    await trainsUncached(dir, 'truncated');
    const kept = await verifyAndRepair(dir);
    const report = join(tmp.path, 'truncated-after.json');
    const r = await runCli(train(dir, report));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(assertJsonLines(r).filter((l) => l.level === 'warn').length, 0, r.stderr);
    const e = epochOf(report);
    assert.ok(e.cached && e.cacheHits > 0 && e.cacheHits <= kept, `${e.cacheHits} hits after keeping ${kept}`);
  });

  it('a damaged page in cache.mdb: train goes on uncached, verify says CORRUPT, repair keeps the other pages', async () => {
    const dir = copyCache('damaged');
    const victim = await readOnly(dir, (c, rec) => c.rawValue(rec.id, c.sampleIds(rec.id)[100] as number) as Buffer);
    const file = readFileSync(join(dir, 'cache.mdb'));
    const at = file.indexOf(victim);
    assert.ok(at > 0 && file.indexOf(victim, at + 1) === -1, 'the value is stored once');
    // scribble over the leaf page that holds it, past its header: node offsets, keys and values
    const page = Math.floor(at / 4096) * 4096;
    const junk = Buffer.from(Array.from({ length: 4096 - 40 }, (_, i) => (i * 7919) & 0xff));
    const fd = openSync(join(dir, 'cache.mdb'), 'r+');
    writeSync(fd, junk, 0, junk.length, page + 40);
    closeSync(fd);
    await trainsUncached(dir, 'damaged');
    await verifyAndRepair(dir);
  });

  it('rewriting every image at the same size is a new fingerprint: 0 hits', async () => {
    const data = join(tmp.path, 'images');
    const write = async (seed: number) => {
      for (const cls of ['a', 'b']) {
        mkdirSync(join(data, cls), { recursive: true });
        for (let i = 0; i < 8; i++) {
          const pixels = Buffer.from(
            Array.from({ length: 8 * 8 * 3 }, (_, k) => (k * 31 + i * 17 + seed * 101 + (cls === 'a' ? 0 : 50)) & 0xff),
          );
          // uncompressed PNG: its size depends on the image size only, never on the pixels
          await sharp(pixels, { raw: { width: 8, height: 8, channels: 3 } })
            .png({ compressionLevel: 0, adaptiveFiltering: false })
            .toFile(join(data, cls, `${i}.png`));
        }
      }
    };
    await write(1);
    const sizes = () => ['a', 'b'].flatMap((c) => Array.from({ length: 8 }, (_, i) => statSync(join(data, c, `${i}.png`)).size));
    const before = sizes();
    const cache = join(tmp.path, 'images-cache');
    const first = await runCli(train(cache, join(tmp.path, 'img1.json'), `imagefolder:${data}`));
    assert.equal(first.code, 0, first.stderr);
    const again = await runCli(train(cache, join(tmp.path, 'img2.json'), `imagefolder:${data}`));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(epochOf(join(tmp.path, 'img2.json')).cacheMisses, 0, 'unchanged images: every lookup hits');
    await write(2);
    assert.deepEqual(sizes(), before, 'same byte sizes');
    const third = await runCli(train(cache, join(tmp.path, 'img3.json'), `imagefolder:${data}`));
    assert.equal(third.code, 0, third.stderr);
    assertJsonLines(third);
    const e = epochOf(join(tmp.path, 'img3.json'));
    assert.equal(e.cacheHits, 0);
    assert.ok(e.cacheMisses > 0);
    const ids = (f: string) => JSON.parse(readFileSync(join(tmp.path, f), 'utf8')).data.datasetId;
    assert.notEqual(ids('img3.json'), ids('img1.json'));
    assert.equal(await readOnly(cache, (c) => c.fingerprints().length), 2);
  });

  it('a one-class dataset and corrupt images stop the run at start with exit 2, naming the files', async () => {
    const one = join(tmp.path, 'one-class');
    mkdirSync(join(one, 'cats'), { recursive: true });
    await sharp(Buffer.alloc(48), { raw: { width: 4, height: 4, channels: 3 } })
      .png()
      .toFile(join(one, 'cats', 'a.png'));
    const bad = join(tmp.path, 'bad-images');
    for (const c of ['a', 'b']) {
      mkdirSync(join(bad, c), { recursive: true });
      await sharp(Buffer.alloc(48, 9), { raw: { width: 4, height: 4, channels: 3 } })
        .png()
        .toFile(join(bad, c, 'good.png'));
    }
    writeFileSync(join(bad, 'a', 'broken.png'), 'not a png');
    const png = readFileSync(join(bad, 'b', 'good.png'));
    writeFileSync(join(bad, 'b', 'cut.png'), png.subarray(0, 20));
    const [r1, r2] = await Promise.all([
      runCli(train(join(tmp.path, 'c1'), join(tmp.path, 'one.json'), `imagefolder:${one}`)),
      runCli(train(join(tmp.path, 'c2'), join(tmp.path, 'bad.json'), `imagefolder:${bad}`)),
    ]);
    assert.equal(r1.code, 2, r1.stderr);
    assert.equal(
      userErrorLine(r1),
      `permafrost: data.dataset: imagefolder:${one} has 1 class (only 'cats'); a classifier needs at least 2`,
    );
    assert.equal(r2.code, 2, r2.stderr);
    const line = userErrorLine(r2);
    assert.match(line, /^permafrost: data.dataset: 2 image files cannot be decoded: /);
    assert.ok(line.includes(join(bad, 'a', 'broken.png')) && line.includes(join(bad, 'b', 'cut.png')), line);
  });
});

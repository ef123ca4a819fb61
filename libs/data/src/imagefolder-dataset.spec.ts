import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import sharp from 'sharp';
import type { Dataset } from './dataset';
import { openImageFolderDataset } from './imagefolder-dataset';

const root = mkdtempSync(join(tmpdir(), 'permafrost-imagefolder-'));
after(() => rmSync(root, { recursive: true, force: true }));

const solid = (w: number, h: number, channels: 1 | 3 | 4, value: number[]) =>
  sharp(Buffer.from(Array.from({ length: w * h * channels }, (_, i) => value[i % channels] as number)), {
    raw: { width: w, height: h, channels },
  });

const userError = (field: string | ((f: string) => boolean), re?: RegExp) => (e: unknown) =>
  e instanceof UserError && (typeof field === 'string' ? e.field === field : field(e.field ?? '')) && (!re || re.test(e.message));

describe('imagefolder dataset', () => {
  const dir = join(root, 'pets');
  let ds: Dataset;

  before(async () => {
    for (const c of ['cat', 'dog', '.hidden']) mkdirSync(join(dir, c), { recursive: true });
    // grey PNG, RGBA PNG and an upper-case JPEG, in different sizes
    await solid(10, 6, 1, [51])
      .png()
      .toFile(join(dir, 'cat', 'b.png'));
    await solid(4, 4, 4, [255, 0, 0, 128])
      .png()
      .toFile(join(dir, 'cat', 'a.png'));
    await solid(8, 8, 3, [0, 0, 255])
      .jpeg({ quality: 100 })
      .toFile(join(dir, 'dog', 'X.JPG'));
    writeFileSync(join(dir, 'dog', 'notes.txt'), 'not an image');
    writeFileSync(join(dir, 'readme.md'), 'ignored: not a class folder');
    ds = await openImageFolderDataset(dir, 'imagefolder:pets');
  });
  after(() => ds.close());

  it('lists sorted classes and sorted image files', () => {
    assert.deepEqual(ds.classNames, ['cat', 'dog']);
    assert.equal(ds.numClasses, 2);
    assert.equal(ds.size, 3);
    assert.equal(ds.sampleShape, undefined);
    assert.deepEqual(
      [0, 1, 2].map((i) => ds.label(i)),
      [0, 0, 1],
    );
    assert.match(ds.id, new RegExp(`^imagefolder:${dir}:[0-9a-f]{16}$`));
    assert.equal(ds.name, 'imagefolder:pets');
  });

  it('decodes to 3-channel RGB at sizePx, in request order', async () => {
    const batch = await ds.read([2, 1, 0], { sizePx: 5 });
    assert.deepEqual(batch.shape, [3, 5, 5, 3]);
    assert.deepEqual(Array.from(batch.labels), [1, 0, 0]);
    const px = (k: number) => Array.from(batch.pixels.subarray(k * 75, k * 75 + 3));
    const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - (b[i] as number)) < 0.03);
    assert.ok(close(px(0), [0, 0, 1]), `blue jpeg: ${px(0)}`);
    assert.ok(close(px(1), [51 / 255, 51 / 255, 51 / 255]), `grey png: ${px(1)}`);
    assert.ok(close(px(2), [1, 0, 0]), `red rgba png: ${px(2)}`);
    assert.ok(batch.pixels.every((v) => v >= 0 && v <= 1));
    assert.deepEqual(await ds.read([2, 1, 0], { sizePx: 5 }), batch);
  });

  it('needs sizePx (a programming error, not a user one)', async () => {
    await assert.rejects(ds.read([0]), (e: unknown) => e instanceof Error && !(e instanceof UserError) && /sizePx/.test(e.message));
    await assert.rejects(ds.read([0], { sizePx: 0 }), RangeError);
    await assert.rejects(ds.read([3], { sizePx: 4 }), RangeError);
  });

  it('changes its id when the file listing changes', async () => {
    const copy = join(root, 'copy');
    mkdirSync(join(copy, 'only'), { recursive: true });
    await solid(2, 2, 3, [1, 2, 3])
      .png()
      .toFile(join(copy, 'only', 'a.png'));
    const before = await openImageFolderDataset(copy, 'x');
    await solid(2, 2, 3, [1, 2, 3])
      .png()
      .toFile(join(copy, 'only', 'b.jpeg'));
    const after = await openImageFolderDataset(copy, 'x');
    assert.notEqual(before.id, after.id);
    assert.equal(after.size, 2);
  });

  it('finds every undecodable file at open and names them all; validate none leaves it to read()', async () => {
    const bad = join(root, 'bad');
    for (const c of ['c', 'd']) mkdirSync(join(bad, c), { recursive: true });
    writeFileSync(join(bad, 'c', 'broken.png'), 'this is not a png');
    await solid(3, 3, 3, [1, 2, 3])
      .png()
      .toFile(join(bad, 'c', 'good.png'));
    writeFileSync(join(bad, 'd', 'empty.jpg'), '');
    await assert.rejects(
      openImageFolderDataset(bad, 'x'),
      userError(
        'data.dataset',
        new RegExp(`2 image files cannot be decoded: ${join(bad, 'c', 'broken.png')} \\(.+\\); ${join(bad, 'd', 'empty.jpg')} \\(`),
      ),
    );
    await assert.rejects(openImageFolderDataset(bad, 'x', { validate: 'full' }), userError('data.dataset', /2 image files/));
    const broken = await openImageFolderDataset(bad, 'x', { validate: 'none' });
    await assert.rejects(broken.read([0], { sizePx: 4 }), userError(join(bad, 'c', 'broken.png'), /cannot decode/));
  });

  it('changes its id when an image is rewritten at the same size, or (content mode) its bytes change', async () => {
    const dir = join(root, 'rewrite');
    for (const c of ['a', 'b']) mkdirSync(join(dir, c), { recursive: true });
    const file = join(dir, 'a', 'x.png');
    const bytes = await solid(4, 4, 3, [10, 20, 30]).png().toBuffer();
    writeFileSync(file, bytes);
    writeFileSync(join(dir, 'b', 'y.png'), bytes);
    const first = await openImageFolderDataset(dir, 'x');
    const content = await openImageFolderDataset(dir, 'x', { fingerprint: 'content' });
    const other = Buffer.from(bytes);
    other[other.length - 20] = (other[other.length - 20] as number) ^ 1; // same size, other bytes
    writeFileSync(file, other);
    utimesSync(file, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
    const second = await openImageFolderDataset(dir, 'x', { validate: 'none' });
    assert.notEqual(second.id, first.id, 'same size, new mtime');
    // content mode sees the change even when the old mtime is put back
    const old = statSync(join(dir, 'b', 'y.png')).mtime;
    utimesSync(file, old, old);
    const third = await openImageFolderDataset(dir, 'x', { fingerprint: 'content', validate: 'none' });
    assert.notEqual(third.id, content.id);
    assert.match(third.id, /:sha256:/);
  });

  it('rejects a missing folder, a folder without classes and an empty class', async () => {
    await assert.rejects(openImageFolderDataset(join(root, 'nope'), 'x'), userError('data.dataset', /does not exist/));
    const flat = join(root, 'flat');
    mkdirSync(flat);
    await solid(2, 2, 3, [0, 0, 0]).png().toFile(join(flat, 'a.png'));
    await assert.rejects(openImageFolderDataset(flat, 'x'), userError('data.dataset', /no class subfolders/));
    mkdirSync(join(flat, 'empty'));
    await assert.rejects(openImageFolderDataset(flat, 'x'), userError('data.dataset', new RegExp(`no \\.png.*${join(flat, 'empty')}`)));
  });
});

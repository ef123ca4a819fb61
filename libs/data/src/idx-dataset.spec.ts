import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { UserError } from '@permafrost/telemetry';
import { openIdxDataset } from './idx-dataset';

const root = mkdtempSync(join(tmpdir(), 'permafrost-idx-'));
after(() => rmSync(root, { recursive: true, force: true }));

const N = 12;
const H = 3;
const W = 2;

function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  for (const [i, d] of dims.entries()) head.writeUInt32BE(d, 4 + 4 * i);
  return Buffer.concat([head, data]);
}

// Sample k is filled with byte value 10k, so every pixel says which sample it came from.
const imageBytes = () => Uint8Array.from({ length: N * H * W }, (_, i) => Math.floor(i / (H * W)) * 10 + (i % 2));
const labelBytes = () => Uint8Array.from({ length: N }, (_, k) => k % 4);

let dirCount = 0;
function makeDir(files: Record<string, Buffer>): string {
  const dir = join(root, `d${dirCount++}`);
  mkdirSync(dir);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
}

const goodImages = () => idx(0x803, [N, H, W], imageBytes());
const goodLabels = () => idx(0x801, [N], labelBytes());
const opts = (name = 'idx:test') => ({
  name,
  idPrefix: 'idx',
  notFound: (detail: string) => new UserError(detail, 'data.dataset'),
});
const fileError = (path: string, re: RegExp) => (e: unknown) => e instanceof UserError && e.field === path && re.test(e.message);

describe('idx dataset', () => {
  for (const gz of [false, true]) {
    it(`reads ${gz ? 'gzipped' : 'plain'} files in request order`, async () => {
      const ext = gz ? '.gz' : '';
      const pack = (b: Buffer) => (gz ? gzipSync(b) : b);
      const dir = makeDir({
        [`train-images-idx3-ubyte${ext}`]: pack(goodImages()),
        [`train-labels-idx1-ubyte${ext}`]: pack(goodLabels()),
      });
      const ds = await openIdxDataset(dir, 'train', opts());
      try {
        assert.equal(ds.size, N);
        assert.equal(ds.numClasses, 4);
        assert.deepEqual(ds.classNames, ['0', '1', '2', '3']);
        assert.deepEqual(ds.sampleShape, [H, W, 1]);
        assert.match(ds.id, new RegExp(`^idx:${dir}:[0-9a-f]{16}$`));
        assert.equal(ds.label(5), 1);
        const ids = [3, 4, 5, 0, 11, 10];
        const batch = await ds.read(ids);
        assert.deepEqual(batch.shape, [6, H, W, 1]);
        assert.deepEqual(batch.ids, ids);
        assert.deepEqual(Array.from(batch.labels), [3, 0, 1, 0, 3, 2]);
        ids.forEach((id, k) => {
          assert.equal(batch.pixels[k * H * W], Math.fround((id * 10) / 255));
          assert.equal(batch.pixels[k * H * W + 1], Math.fround((id * 10 + 1) / 255));
        });
        assert.deepEqual(await ds.read(ids), batch);
      } finally {
        await ds.close();
      }
      await assert.rejects(ds.read([0]), /closed/);
    });
  }

  it('uses t10k files for the test split and accepts dotted names', async () => {
    const dir = makeDir({ 't10k-images.idx3-ubyte': goodImages(), 't10k-labels.idx1-ubyte.gz': gzipSync(goodLabels()) });
    const ds = await openIdxDataset(dir, 'test', opts());
    assert.equal(ds.size, N);
    await ds.close();
    await assert.rejects(openIdxDataset(dir, 'train', opts()), (e: unknown) => e instanceof UserError && /train-images/.test(e.message));
  });

  it('changes its id when a file changes', async () => {
    const a = makeDir({ 'train-images-idx3-ubyte': goodImages(), 'train-labels-idx1-ubyte': goodLabels() });
    const ds1 = await openIdxDataset(a, 'train', opts());
    await ds1.close();
    writeFileSync(join(a, 'train-labels-idx1-ubyte'), Buffer.concat([goodLabels(), Buffer.from([0])]));
    const ds2 = await openIdxDataset(a, 'train', opts());
    await ds2.close();
    assert.notEqual(ds1.id, ds2.id);
  });

  it('names the file on bad magic', async () => {
    const dir = makeDir({ 'train-images-idx3-ubyte': idx(0x801, [N], labelBytes()), 'train-labels-idx1-ubyte': goodLabels() });
    await assert.rejects(openIdxDataset(dir, 'train', opts()), fileError(join(dir, 'train-images-idx3-ubyte'), /bad IDX magic 0x00000801/));
  });

  it('names the file when data or header is truncated', async () => {
    const images = goodImages();
    const dir = makeDir({
      'train-images-idx3-ubyte': images.subarray(0, images.length - 1),
      'train-labels-idx1-ubyte': goodLabels().subarray(0, 6),
    });
    const imagesPath = join(dir, 'train-images-idx3-ubyte');
    await assert.rejects(openIdxDataset(dir, 'train', opts()), fileError(imagesPath, /truncated/));
    writeFileSync(imagesPath, images);
    await assert.rejects(openIdxDataset(dir, 'train', opts()), fileError(join(dir, 'train-labels-idx1-ubyte'), /truncated/));
  });

  it('names the file when a gzip stream is cut short', async () => {
    const gz = gzipSync(goodImages());
    const dir = makeDir({ 'train-images-idx3-ubyte.gz': gz.subarray(0, gz.length - 10), 'train-labels-idx1-ubyte': goodLabels() });
    await assert.rejects(openIdxDataset(dir, 'train', opts()), fileError(join(dir, 'train-images-idx3-ubyte.gz'), /gzip/));
  });

  it('rejects label/image count mismatches and labels beyond the class list', async () => {
    const dir = makeDir({
      'train-images-idx3-ubyte': goodImages(),
      'train-labels-idx1-ubyte': idx(0x801, [N - 1], labelBytes().subarray(1)),
    });
    await assert.rejects(openIdxDataset(dir, 'train', opts()), fileError(join(dir, 'train-labels-idx1-ubyte'), /11 labels but/));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), goodLabels());
    await assert.rejects(
      openIdxDataset(dir, 'train', { ...opts(), classNames: ['a', 'b'] }),
      fileError(join(dir, 'train-labels-idx1-ubyte'), /label 2/),
    );
  });

  it('reports a missing directory or file through notFound', async () => {
    const missing = (e: unknown) => e instanceof UserError && e.field === 'data.dataset';
    await assert.rejects(openIdxDataset(join(root, 'nope'), 'train', opts()), missing);
    const dir = makeDir({ 'train-images-idx3-ubyte': goodImages() });
    await assert.rejects(openIdxDataset(dir, 'train', opts()), (e: unknown) => missing(e) && /train-labels/.test((e as Error).message));
  });
});

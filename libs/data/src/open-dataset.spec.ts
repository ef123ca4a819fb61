import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import sharp from 'sharp';
import { DATASET_NAMES, openDataset } from './open-dataset';

const root = mkdtempSync(join(tmpdir(), 'permafrost-open-'));
after(() => rmSync(root, { recursive: true, force: true }));

const userError = (field: string, re?: RegExp) => (e: unknown) =>
  e instanceof UserError && e.field === field && (!re || re.test(e.message));

describe('openDataset', () => {
  it('lists the accepted names for help text', () => {
    assert.deepEqual([...DATASET_NAMES], ['mnist', 'fashion-mnist', 'idx:DIR', 'imagefolder:DIR']);
  });

  it('rejects unknown specs, listing the valid ones', async () => {
    await assert.rejects(
      openDataset('cifar10'),
      userError('data.dataset', /unknown dataset 'cifar10'.*mnist.*fashion-mnist.*idx:DIR.*imagefolder:DIR/),
    );
    await assert.rejects(openDataset('idx:'), userError('data.dataset', /needs a directory/));
  });

  it('opens mnist and keeps the name the user wrote', async () => {
    const ds = await openDataset('mnist');
    assert.equal(ds.name, 'mnist');
    assert.equal(ds.size, 10_000);
    await ds.close();
    await assert.rejects(openDataset('mnist', { split: 'test' }), userError('data.split'));
  });

  it('sends fashion-mnist to the given directory with install advice', async () => {
    await assert.rejects(
      openDataset('fashion-mnist', { fashionMnistDir: join(root, 'missing') }),
      userError('data.dataset', /apt-get install dataset-fashion-mnist/),
    );
  });

  it('resolves idx: and imagefolder: directories', async () => {
    const dir = join(root, 'empty');
    mkdirSync(dir);
    await assert.rejects(openDataset(`idx:${dir}`), userError('data.dataset', /train-images-idx3-ubyte/));
    await assert.rejects(openDataset('imagefolder:relative/missing'), userError('data.dataset', new RegExp(resolve('relative/missing'))));
    await assert.rejects(openDataset(`imagefolder:${dir}`, { split: 'test' }), userError('data.split'));
  });

  it('refuses a dataset with fewer than two classes', async () => {
    const dir = join(root, 'one-class');
    mkdirSync(join(dir, 'cat'), { recursive: true });
    await sharp(Buffer.alloc(12), { raw: { width: 2, height: 2, channels: 3 } })
      .png()
      .toFile(join(dir, 'cat', 'a.png'));
    await assert.rejects(
      openDataset(`imagefolder:${dir}`),
      userError('data.dataset', /has 1 class \(only 'cat'\); a classifier needs at least 2/),
    );
  });
});

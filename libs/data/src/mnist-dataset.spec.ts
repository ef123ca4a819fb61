import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Dataset } from './dataset';
import { openMnistDataset } from './mnist-dataset';

const digitsDir = join(dirname(createRequire(import.meta.url).resolve('mnist')), 'digits');
const digitFile = (d: number) =>
  Float32Array.from((JSON.parse(readFileSync(join(digitsDir, `${d}.json`), 'utf8')) as { data: number[] }).data);

describe('mnist dataset', () => {
  let ds: Dataset;
  before(async () => {
    ds = await openMnistDataset();
  });
  after(() => ds.close());

  it('has 10,000 28x28 greyscale digits in ten classes', () => {
    assert.equal(ds.size, 10_000);
    assert.equal(ds.numClasses, 10);
    assert.deepEqual(ds.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.deepEqual(ds.sampleShape, [28, 28, 1]);
    assert.match(ds.id, /^mnist@1\.1\.0$/);
  });

  it('labels samples by digit file, in file order', () => {
    const counts = Array.from({ length: 10 }, () => 0);
    for (let id = 0; id < ds.size; id++) counts[ds.label(id)] = (counts[ds.label(id)] ?? 0) + 1;
    // digit 0's file holds 1001 samples, digit 1's 1127 (784 values each)
    assert.equal(counts[0], 1001);
    assert.equal(counts[1], 1127);
    assert.equal(ds.label(0), 0);
    assert.equal(ds.label(1001), 1);
    assert.equal(ds.label(9999), 9);
  });

  it('reads exactly the values in the package files, in request order', async () => {
    const zeros = digitFile(0);
    const ones = digitFile(1);
    const batch = await ds.read([1001, 0, 1000, 1002, 1001]);
    assert.deepEqual(batch.shape, [5, 28, 28, 1]);
    assert.deepEqual(Array.from(batch.labels), [1, 0, 0, 1, 1]);
    const sample = (k: number) => batch.pixels.subarray(k * 784, (k + 1) * 784);
    assert.deepEqual(sample(0), ones.subarray(0, 784));
    assert.deepEqual(sample(1), zeros.subarray(0, 784));
    assert.deepEqual(sample(2), zeros.subarray(1000 * 784, 1001 * 784));
    assert.deepEqual(sample(3), ones.subarray(784, 2 * 784));
    assert.deepEqual(sample(4), sample(0));
    assert.ok(batch.pixels.every((v) => v >= 0 && v <= 1));
  });

  it('is deterministic across reads and across opens', async () => {
    const ids = [9999, 17, 4242, 5000, 18];
    const a = await ds.read(ids);
    const other = await openMnistDataset();
    try {
      assert.deepEqual(await ds.read(ids), a);
      assert.deepEqual(await other.read(ids), a);
      assert.equal(other.id, ds.id);
    } finally {
      await other.close();
    }
  });

  it('rejects out-of-range ids as programming errors', async () => {
    await assert.rejects(ds.read([10_000]), RangeError);
    assert.throws(() => ds.label(-1), RangeError);
  });
});

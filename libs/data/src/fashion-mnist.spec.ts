import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DEFAULT_DIR, openFashionMnist } from './fashion-mnist';

const installed = existsSync(FASHION_MNIST_DEFAULT_DIR);

describe('fashion-mnist', () => {
  it("opens Debian's dataset-fashion-mnist (60,000 train, 10,000 test)", {
    skip: installed ? false : `${FASHION_MNIST_DEFAULT_DIR} is absent (apt-get install dataset-fashion-mnist)`,
  }, async () => {
    const train = await openFashionMnist(FASHION_MNIST_DEFAULT_DIR, 'train');
    const test = await openFashionMnist(FASHION_MNIST_DEFAULT_DIR, 'test');
    try {
      assert.equal(train.size, 60_000);
      assert.equal(test.size, 10_000);
      assert.deepEqual(train.classNames, FASHION_MNIST_CLASSES);
      assert.deepEqual(train.sampleShape, [28, 28, 1]);
      assert.match(train.id, /^fashion-mnist:/);
      assert.notEqual(train.id, test.id);
      const batch = await train.read([0, 59_999]);
      assert.deepEqual(batch.shape, [2, 28, 28, 1]);
      // the first training image is an ankle boot
      assert.equal(batch.labels[0], 9);
      assert.ok(batch.pixels.every((v) => v >= 0 && v <= 1));
      assert.ok(batch.pixels.some((v) => v > 0.5));
    } finally {
      await train.close();
      await test.close();
    }
  });

  it('tells the user how to install it when the directory is missing or empty', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'permafrost-fashion-'));
    after(() => rmSync(empty, { recursive: true, force: true }));
    for (const dir of [join(empty, 'nope'), empty]) {
      await assert.rejects(
        openFashionMnist(dir, 'train'),
        (e: unknown) =>
          e instanceof UserError &&
          e.field === 'data.dataset' &&
          e.message.includes('apt-get install dataset-fashion-mnist') &&
          e.message.includes('idx:DIR') &&
          !e.message.includes('\n'),
      );
    }
  });
});

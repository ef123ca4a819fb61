import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ENV_FILE } from '@permafrost/cache';
import { openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { open } from 'lmdb';
import { fit } from './fit';
import { adam as adamAt, maxRelDiff, smallRun, trainableValues as weightsOf } from './testing';

const adam = adamAt(0.01);

const root = mkdtempSync(join(tmpdir(), 'permafrost-trainer-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function run(opts: { cacheDir?: string; head?: string; codec?: 'float32' | 'float16' }) {
  const dataset = await openDataset('mnist');
  const model = await assemble({ name: 'mobilenet_v2', inputSize: 32, head: opts.head ?? 'gap-8' }, {}, 10, 11);
  const r = await fit({
    model,
    dataset,
    ...smallRun,
    optimizer: adam,
    cache: opts.cacheDir ? { dir: opts.cacheDir, codec: opts.codec ?? 'float32', modelName: 'mobilenet_v2' } : undefined,
  });
  r.trainer.dispose();
  await dataset.close();
  return { ...r, weights: weightsOf(model.suffix) };
}

describe('training with the activation cache', () => {
  let uncached: Awaited<ReturnType<typeof run>>;
  const dir = join(root, 'shared');

  before(async () => {
    await initEngine('wasm');
    uncached = await run({});
  });

  it('is transparent: a float32-cached run ends with the weights of an uncached one', async () => {
    const cached = await run({ cacheDir: dir });
    assert.ok(
      maxRelDiff(cached.weights, uncached.weights) <= 1e-5,
      `max relative difference ${maxRelDiff(cached.weights, uncached.weights)}`,
    );
    const [e1, e2, e3] = cached.epochs;
    assert.deepEqual([e1?.cacheHits, e1?.cacheMisses], [0, 48]);
    assert.deepEqual([e2?.cacheHits, e2?.cacheMisses, e3?.cacheHits], [48, 0, 48]);
    assert.equal(cached.prefixSamples, 48 + 8, 'the prefix ran once per training and validation sample');
    assert.equal(uncached.prefixSamples, 3 * (48 + 8));
    assert.ok((e1?.cacheBytesWritten ?? 0) === 56 * (8 + 1280 * 4));
    assert.ok((e2?.cacheBytesRead ?? 0) === 56 * (8 + 1280 * 4));
    assert.equal(e2?.prefixSeconds, 0);
  });

  it('shares entries with a run that has a different head: 100% hits from the start', async () => {
    const other = await run({ cacheDir: dir, head: 'gmp-4' });
    assert.deepEqual(
      other.epochs.map((e) => [e.cacheHits, e.cacheMisses]),
      [
        [48, 0],
        [48, 0],
        [48, 0],
      ],
    );
    assert.equal(other.prefixSamples, 0);
  });

  it('detects flipped bytes, recomputes and rewrites them, and ends with the clean weights', async () => {
    const env = open({ path: join(dir, ENV_FILE), maxDbs: 4 });
    const values = env.openDB<Buffer, Buffer>({ name: 'activations', keyEncoding: 'binary', encoding: 'binary' });
    let flipped = 0;
    for (const { key, value } of values.getRange()) {
      if (flipped >= 5) break;
      const bad = Buffer.from(value);
      bad[100] = (bad[100] as number) ^ 0xff;
      values.putSync(key, bad);
      flipped++;
    }
    await env.close();
    const r = await run({ cacheDir: dir });
    const failures = r.epochs.reduce((a, e) => a + e.cacheChecksumFailures, 0);
    assert.equal(failures, 5, 'each flipped value is detected once, then rewritten');
    assert.equal(r.prefixSamples, 5);
    assert.ok(maxRelDiff(r.weights, uncached.weights) <= 1e-5);
  });

  it('float16 halves the bytes and stays close', async () => {
    const r = await run({ cacheDir: join(root, 'f16'), codec: 'float16' });
    assert.equal(r.epochs[0]?.cacheBytesWritten, 56 * (8 + 1280 * 2));
    assert.ok(Math.abs((r.epochs[2]?.valLoss ?? 0) - (uncached.epochs[2]?.valLoss ?? 0)) < 0.05);
  });

  it('degrades to uncached training when the cache directory is unusable', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a directory');
    const r = await run({ cacheDir: join(file, 'cache') });
    assert.equal(r.fingerprint, undefined);
    assert.equal(r.epochs[1]?.cached, false);
    assert.ok(maxRelDiff(r.weights, uncached.weights) <= 1e-5);
  });
});

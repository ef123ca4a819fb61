import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble, type FreezeSpec, type ModelSpec, saveModelDir } from '@permafrost/model';
import * as tfl from '@tensorflow/tfjs-layers';
import { openRunCache } from './cache-setup';

const root = mkdtempSync(join(tmpdir(), 'permafrost-fp-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A tiny IDX dataset (the Fashion-MNIST file layout) with `n` 28x28 images. */
function idxDir(name: string, n: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const images = Buffer.alloc(16 + n * 784);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(n, 4);
  images.writeUInt32BE(28, 8);
  images.writeUInt32BE(28, 12);
  for (let i = 16; i < images.length; i++) images[i] = (i * 7) % 256;
  const labels = Buffer.alloc(8 + n);
  labels.writeUInt32BE(0x801, 0);
  labels.writeUInt32BE(n, 4);
  for (let i = 0; i < n; i++) labels[8 + i] = i % 10;
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), images);
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels);
  return dir;
}

async function fingerprint(model: ModelSpec, freeze: FreezeSpec = {}, dataset = 'mnist', seed = 1): Promise<string | undefined> {
  const ds = await openDataset(dataset);
  const assembled = await assemble(model, freeze, ds.numClasses, seed);
  const opened = openRunCache(assembled, ds, model.name, { dir: join(root, 'cache'), codec: 'float32' });
  await opened?.store.close();
  await ds.close();
  return opened?.fingerprint;
}

describe('cache fingerprints', () => {
  before(async () => {
    await initEngine('wasm');
  });

  it('change with prefix weights, boundary, input size, preprocessing and dataset', async () => {
    const base = { name: 'cnn-small', inputSize: 12 };
    const freeze = { boundary: 'pool_1' };
    const f = await fingerprint(base, freeze);
    assert.match(f ?? '', /^[0-9a-f]{64}$/);
    assert.equal(await fingerprint(base, freeze), f, 'stable');
    const variants = {
      weights: await fingerprint(base, freeze, 'mnist', 2),
      boundary: await fingerprint(base, { boundary: 'relu_1' }),
      inputSize: await fingerprint({ ...base, inputSize: 14 }, freeze),
      preprocessing: await fingerprint({ ...base, inputRange: [-1, 1] }, freeze),
      dataset: await fingerprint(base, freeze, `idx:${idxDir('tiny', 20)}`),
    };
    for (const [what, v] of Object.entries(variants)) assert.notEqual(v, f, what);
    assert.equal(new Set(Object.values(variants)).size, 5);
  });

  it('do not change with the head', async () => {
    const a = await fingerprint({ name: 'mobilenet_v2', inputSize: 32, head: 'gap-8' });
    const b = await fingerprint({ name: 'mobilenet_v2', inputSize: 32, head: 'flatten-64-d0.1' });
    assert.ok(a);
    assert.equal(a, b);
    const pretrained = await fingerprint({ name: 'mobilenet_v2', inputSize: 32, head: 'gap-8', pretrained: false });
    assert.notEqual(pretrained, a);
  });

  it('are refused for a prefix that is not deterministic', async () => {
    const x = tfl.input({ shape: [8, 8, 1], name: 'in' });
    let y = tfl.layers.flatten({ name: 'flat' }).apply(x) as tfl.SymbolicTensor;
    y = tfl.layers.dropout({ rate: 0.2, name: 'drop' }).apply(y) as tfl.SymbolicTensor;
    y = tfl.layers.dense({ units: 8, name: 'dense_a' }).apply(y) as tfl.SymbolicTensor;
    y = tfl.layers.dense({ units: 10, activation: 'softmax', name: 'out' }).apply(y) as tfl.SymbolicTensor;
    const dir = join(root, 'dropout-model');
    await saveModelDir(tfl.model({ inputs: x, outputs: y }), dir);
    assert.equal(await fingerprint({ name: join(dir, 'model.json') }, { boundary: 'dense_a' }), undefined);
    assert.ok(await fingerprint({ name: join(dir, 'model.json') }, { boundary: 'flat' }), 'a boundary before the dropout is fine');
  });
});

/**
 * The final checkpoint is an ordinary tfjs LayersModel: plain tf.loadLayersModel loads it over
 * HTTP (a real server on 127.0.0.1, port 0) and predicts exactly what the trained model predicts.
 */
import assert from 'node:assert/strict';
import { createReadStream, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import { openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { fit } from '@permafrost/trainer';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { adam, tempDir } from './support';

const tmp = tempDir('ckpt-load');

describe('checkpoint', () => {
  it('loads with plain tf.loadLayersModel and gives the same predictions', async () => {
    await initEngine('wasm');
    const dataset = await openDataset('mnist');
    const model = await assemble({ name: 'mobilenet_v2', inputSize: 32, head: 'gap-16' }, {}, 10, 1);
    const result = await fit({
      model,
      dataset,
      trainIds: [3, 1003, 2003, 3003, 4003, 5003, 6003, 7003],
      valIds: [11, 12],
      epochs: 1,
      batchSize: 4,
      seed: 1,
      optimizer: adam(0.01),
      checkpoint: { dir: join(tmp.path, 'ckpt'), everyEpoch: false },
    });
    result.trainer.dispose();
    const root = join(tmp.path, 'ckpt', 'final');
    const server = createServer((req, res) => {
      const file = normalize(join(root, (req.url ?? '/').split('?')[0] ?? ''));
      if (!file.startsWith(root) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200);
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const { port } = server.address() as AddressInfo;
      const plain = await tfl.loadLayersModel(`http://127.0.0.1:${port}/model.json`);
      const raw = await dataset.read([21, 22, 23], { sizePx: 32 });
      const x = tf.image.resizeBilinear(tf.tile(tf.tensor4d(raw.pixels, raw.shape), [1, 1, 1, 3]), [32, 32]);
      const want = (model.full.predict(x) as tf.Tensor).dataSync();
      const got = (plain.predict(x) as tf.Tensor).dataSync();
      assert.equal(got.length, 30);
      assert.deepEqual(Array.from(got), Array.from(want));
      assert.equal(plain.layers.length, model.full.layers.length);
    } finally {
      server.close();
      await dataset.close();
    }
  });
});

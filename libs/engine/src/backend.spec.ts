import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from './backend';

const installed = (pkg: string) => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
};
const hasNode = installed('@tensorflow/tfjs-node');

describe('initEngine', () => {
  it('auto picks the first backend that loads (wasm where tfjs-node is absent)', async () => {
    const info = await initEngine('auto');
    assert.equal(info.requested, 'auto');
    assert.equal(info.backend, hasNode ? 'tensorflow' : 'wasm');
    assert.equal(tf.getBackend(), info.tfBackend);
    const y = tf.matMul(tf.ones([2, 3]), tf.ones([3, 2]));
    assert.deepEqual(Array.from(y.dataSync()), [3, 3, 3, 3]);
  });

  it('switches to an explicitly requested backend', async () => {
    const info = await initEngine('cpu');
    assert.equal(info.backend, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
  });

  it('refuses a backend that is not installed with a user error (exit 2)', { skip: hasNode && 'tfjs-node is installed here' }, async () => {
    await assert.rejects(initEngine('tensorflow'), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /backend: backend 'tensorflow' is not available.*@tensorflow\/tfjs-node/);
      return true;
    });
    await assert.rejects(initEngine('tensorflow-gpu'), /tfjs-node-gpu/);
  });

  it('rejects an unknown backend name', async () => {
    await assert.rejects(initEngine('webgpu' as never), /unknown backend 'webgpu'/);
  });
});

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { MemoryHub, ringAllreduce, type Transport } from '@permafrost/collective';
import { initEngine } from '@permafrost/engine';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { GradientReducer } from './reducer';
import { SuffixTrainer, weightsHash } from './suffix-trainer';
import { sgd } from './testing';

function head(): tfl.LayersModel {
  const x = tfl.input({ shape: [6] });
  const h = tfl.layers.dense({ units: 5, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(x);
  const y = tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(h);
  return tfl.model({ inputs: x, outputs: y as tfl.SymbolicTensor });
}

class Reducer implements GradientReducer {
  private seq = 0;
  constructor(private readonly t: Transport) {}
  get worldSize(): number {
    return this.t.size;
  }
  allreduce(buffer: Float32Array, signature: string): Promise<void> {
    return ringAllreduce(buffer, this.t, { sequence: ++this.seq, signature, chunkElements: 7 });
  }
}

const spec = sgd(0.1, { momentum: 0.9, nesterov: true, weightDecay: 0.01 });
let x: tf.Tensor2D;
const labels = Int32Array.from([0, 1, 2, 0, 1, 2, 1, 0]);

function weights(m: tfl.LayersModel): number[] {
  return m.trainableWeights.flatMap((w) => Array.from(w.read().dataSync()));
}

describe('SuffixTrainer', () => {
  before(async () => {
    await initEngine('cpu');
    x = tf.tensor2d(
      Array.from({ length: 48 }, (_, i) => Math.sin(i)),
      [8, 6],
    );
  });

  for (const split of [3, 0]) {
    it(`with a reducer, ranks with ${split} and ${8 - split} samples step exactly like one rank with all 8`, async () => {
      const single = head();
      const one = new SuffixTrainer(single, spec);
      const ranks = [head(), head()];
      const trainers = ranks.map((m) => new SuffixTrainer(m, spec));
      const [t0, t1] = new MemoryHub().transports(2);
      for (let step = 0; step < 3; step++) {
        await one.step(x, labels);
        const parts: [tf.Tensor | undefined, Int32Array][] = [
          [split > 0 ? tf.slice(x, [0, 0], [split, 6]) : undefined, labels.slice(0, split)],
          [tf.slice(x, [split, 0], [8 - split, 6]), labels.slice(split)],
        ];
        await Promise.all(
          trainers.map((t, r) =>
            t.step(parts[r]?.[0], parts[r]?.[1] as Int32Array, { reducer: new Reducer((r === 0 ? t0 : t1) as Transport), globalCount: 8 }),
          ),
        );
      }
      const a = weights(ranks[0] as tfl.LayersModel);
      const b = weights(ranks[1] as tfl.LayersModel);
      assert.deepEqual(a, b, 'replicas are bit-identical');
      assert.equal(weightsHash(ranks[0] as tfl.LayersModel), weightsHash(ranks[1] as tfl.LayersModel));
      const s = weights(single);
      for (const [i, v] of a.entries()) assert.ok(Math.abs(v - (s[i] as number)) < 1e-5, `weight ${i}: ${v} vs ${s[i]}`);
    });
  }

  it('leaves no tensor behind, with a reducer or without, with samples or with an empty share', async () => {
    const [solo] = new MemoryHub().transports(1);
    const reducer = new Reducer(solo as Transport);
    // a world of 1 divides its own sums; a larger one goes through the flat buffer
    const flat: GradientReducer = { worldSize: 2, allreduce: async () => undefined };
    for (const opts of [{}, { reducer }, { reducer, globalCount: 8 }, { reducer: flat, globalCount: 8 }]) {
      const t = new SuffixTrainer(head(), spec);
      // the first step creates the optimizer's slots
      await t.step(x, labels, opts);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) await t.step(x, labels, opts);
      await t.step(undefined, new Int32Array(0), opts);
      assert.equal(tf.memory().numTensors, before, `steps with ${Object.keys(opts).join(', ') || 'no options'}`);
      t.dispose();
    }
  });

  it('reports the summed loss and the sample count', async () => {
    const t = new SuffixTrainer(head(), spec);
    const r = await t.step(x, labels);
    assert.equal(r.count, 8);
    assert.ok(r.lossSum > 8 * 0.5 && r.lossSum < 8 * 3);
    assert.match(t.signature, /^[0-9a-f]{64}$/);
  });
});

/**
 * Tile for the wasm backend, replacing the backend's own kernel, which walks the output element
 * by element (about 100 ms to tile [1,1,1,960] to [32,3,3,960]); BatchNormalization's gradient
 * tiles its statistics to the input's shape on every training step.
 *
 * tile(x, reps) is a broadcast: x reshaped to [1,d0,1,d1,...] plus zeros of shape
 * [r0,d0,r1,d1,...], reshaped to [r0*d0, r1*d1, ...]. The backend's broadcasting Add does the
 * copying in one pass; axes with a single repetition are left out of the interleave.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './conv-geometry';

export function tile(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const reps = (args.attrs as unknown as { reps: number[] }).reps;
  return tf.tidy(() => {
    const x = asTensor(args.inputs.x, 'x', 'Tile');
    if (reps.every((r) => r === 1)) return tf.clone(x);
    // (input extent, output extent) per axis: broadcast axes (1, r) and copied axes (d, d)
    const axes: [number, number][] = [];
    x.shape.forEach((d, i) => {
      const r = reps[i] ?? 1;
      if (r !== 1 && d !== 1) axes.push([1, r]);
      axes.push(r !== 1 && d === 1 ? [1, r] : [d, d]);
    });
    // neighbours of one kind merge, which keeps the broadcast within XNNPACK's rank limit
    const merged: [number, number][] = [];
    for (const [e, t] of axes) {
      const last = merged.at(-1);
      const kind = (a: number, b: number) => (a === b ? 'copy' : 'broadcast');
      if (last && (e === t || e === 1) && kind(last[0], last[1]) === kind(e, t)) merged[merged.length - 1] = [last[0] * e, last[1] * t];
      else merged.push([e, t]);
    }
    const expanded = merged.map(([e]) => e);
    const target = merged.map(([, t]) => t);
    const out = x.shape.map((d, i) => d * (reps[i] ?? 1));
    const zeros = tf.zeros(target, x.dtype === 'bool' ? 'int32' : x.dtype);
    const sum = tf.add(tf.reshape(x.dtype === 'bool' ? tf.cast(x, 'int32') : x, expanded), zeros);
    const tiled = tf.reshape(sum, out);
    return x.dtype === 'bool' ? tf.cast(tiled, 'bool') : tiled;
  });
}

export const tileConfig: tf.KernelConfig = {
  kernelName: tf.Tile,
  backendName: 'wasm',
  kernelFunc: tile as unknown as tf.KernelFunc,
};

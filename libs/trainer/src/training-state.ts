/**
 * A rank's training state as flat float32 buffers: what an in-memory commit copies
 * (step-commit.ts) and what a new generation's ranks copy from one rank over the data plane
 * (an allreduce to which only that rank contributes: x + 0 = x exactly, so every rank ends with
 * the source's bits; docs/distributed.md#a-new-generation).
 *
 * Two parts, restored in order around a boundary move (a rank that joins a running FreezeOut job
 * moves its boundary after it has the weights, since the new boundary's cache fingerprint hashes
 * them):
 *  - weights: every weight (trainable, and not: BatchNorm statistics) of the suffix the model was
 *    assembled with, which is all that training can ever change; the same list on every rank.
 *  - slots: every optimizer group's state (iteration count, moments), groups in name order; the
 *    layout follows the boundary (a frozen block's group is gone), so it carries a signature.
 */
import { createHash } from 'node:crypto';
import { readInto } from '@permafrost/engine';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { BlockOptimizers } from './block-optimizers';

/** The variables behind a model's weights, in the model's order. */
export function stateVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.weights.map((w) => w.read() as tf.Variable);
}

export function weightsSignature(vars: readonly tf.Variable[]): string {
  return hashOf(vars.map((v) => v.shape));
}

/** Copies the variables' values into `into` (reused when its size fits). */
export function packWeights(vars: readonly tf.Variable[], into?: Float32Array): Float32Array {
  const total = vars.reduce((a, v) => a + v.size, 0);
  const out = into?.length === total ? into : new Float32Array(total);
  let at = 0;
  for (const v of vars) {
    readInto(v, out, at);
    at += v.size;
  }
  return out;
}

export function unpackWeights(vars: readonly tf.Variable[], flat: Float32Array): void {
  let at = 0;
  for (const v of vars) {
    const t = tf.tensor(flat.subarray(at, at + v.size), v.shape, 'float32');
    v.assign(t);
    t.dispose();
    at += v.size;
  }
}

/** Where each saved tensor of the optimizer groups sits in a slots buffer. */
export interface SlotLayout {
  groups: { name: string; tensors: { name: string; shape: number[] }[] }[];
  size: number;
  signature: string;
}

/** The optimizer groups' state, groups in name order; `into` is reused when its size fits. */
export async function packSlots(optimizers: BlockOptimizers, into?: Float32Array): Promise<{ data: Float32Array; layout: SlotLayout }> {
  const groups: SlotLayout['groups'] = [];
  const parts: tf.Tensor[] = [];
  const fresh: tf.Tensor[] = [];
  for (const name of optimizers.names) {
    const named = await optimizers.groupWeights(name);
    groups.push({ name, tensors: named.map((w) => ({ name: w.name, shape: w.tensor.shape })) });
    for (const w of named) {
      parts.push(w.tensor);
      if (!(w.tensor instanceof tf.Variable)) fresh.push(w.tensor);
    }
  }
  const size = parts.reduce((a, t) => a + t.size, 0);
  const data = into?.length === size ? into : new Float32Array(size);
  let at = 0;
  for (const t of parts) {
    if (t.dtype === 'float32') readInto(t, data, at);
    else data.set(t.dataSync() as ArrayLike<number> as Int32Array, at);
    at += t.size;
  }
  tf.dispose(fresh);
  const signature = hashOf(groups.map((g) => [g.name, g.tensors.map((t) => t.shape)]));
  return { data, layout: { groups, size, signature } };
}

/** Sets every group of `layout` from `flat` (a slots buffer of that layout). */
export async function unpackSlots(optimizers: BlockOptimizers, layout: SlotLayout, flat: Float32Array): Promise<void> {
  let at = 0;
  for (const g of layout.groups) {
    const named = g.tensors.map((t) => {
      const size = t.shape.reduce((a, b) => a * b, 1);
      const tensor = tf.tensor(flat.subarray(at, at + size), t.shape, 'float32');
      at += size;
      return { name: t.name, tensor };
    });
    await optimizers.replaceGroup(g.name, named);
    tf.dispose(named.map((n) => n.tensor));
  }
}

function hashOf(x: unknown): string {
  return createHash('sha256').update(JSON.stringify(x)).digest('hex');
}

/**
 * Checkpoints: the full model in tfjs LayersModel format (model.json + weights.bin, loadable by
 * plain tf.loadLayersModel), the optimizer's state (optimizer.json + optimizer.bin, tfjs weight
 * manifest format, one optimizer per block: names `<block>|<slot>`) and meta.json (epoch, global
 * step, boundary, job). Each checkpoint directory is written atomically, then the root's pointer
 * names it (checkpoint-pointer.ts).
 */
import { join } from 'node:path';
import { saveModelDir } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { BlockOptimizers } from './block-optimizers';
import { writePointer } from './checkpoint-pointer';

export interface CheckpointMeta {
  epoch: number;
  step: number;
  boundary: string;
  [k: string]: unknown;
}

export async function writeCheckpoint(
  root: string,
  name: string,
  model: tfl.LayersModel,
  optimizer: BlockOptimizers,
  meta: CheckpointMeta,
): Promise<string> {
  return writeCheckpointOf(root, name, model, { className: optimizer.className, weights: await optimizer.getWeights() }, meta);
}

/** The optimizer's part of a checkpoint: its class and its state, named `<group>|<slot>`. */
export interface OptimizerState {
  className: string;
  weights: { name: string; tensor: tf.Tensor }[];
}

/** Writes checkpoint `name` under `root` with the optimizer state given, then points the root's pointer at it. */
export async function writeCheckpointOf(
  root: string,
  name: string,
  model: tfl.LayersModel,
  optimizer: OptimizerState,
  meta: CheckpointMeta,
): Promise<string> {
  const { data, specs } = await tf.io.encodeWeights(optimizer.weights);
  const dir = join(root, name);
  await saveModelDir(model, dir, {
    'meta.json': `${JSON.stringify({ ...meta, optimizer: optimizer.className, writtenAt: new Date().toISOString() }, null, 2)}\n`,
    'optimizer.json': JSON.stringify({ weightsManifest: [{ paths: ['optimizer.bin'], weights: specs }] }),
    'optimizer.bin': new Uint8Array(data),
  });
  await writePointer(root, { checkpoint: name, epoch: meta.epoch, step: meta.step });
  return dir;
}

/**
 * Resuming from a checkpoint: the full model's weights (in the order the checkpoint saved them,
 * which is the model's own order) and the optimizer's state (its iteration count and slots, in the
 * order the optimizer created them, which is the trainer's fixed variable order).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelFile } from '@permafrost/model';
import { UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { CheckpointMeta } from './checkpoint';
import type { SuffixTrainer } from './suffix-trainer';

/** meta.json of a checkpoint: the epoch, global step and boundary it was written at. */
export async function readCheckpointMeta(dir: string): Promise<CheckpointMeta> {
  try {
    return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as CheckpointMeta;
  } catch {
    throw new UserError('checkpoint has no readable meta.json', dir);
  }
}

/**
 * `afterWeights` runs between the weights and the optimizer state: a resumed FreezeOut run moves
 * its boundary there, since the boundary's cache fingerprint hashes the restored weights and the
 * boundary decides which optimizer groups exist.
 */
export async function restoreCheckpoint(
  dir: string,
  full: tfl.LayersModel,
  trainer: SuffixTrainer,
  afterWeights?: () => void,
): Promise<void> {
  const saved = await loadModelFile(join(dir, 'model.json'));
  const weights = saved.getWeights();
  if (weights.length !== full.weights.length) {
    throw new UserError(`checkpoint has ${weights.length} weights, the model ${full.weights.length}: not this job's checkpoint`, dir);
  }
  full.weights.forEach((w, i) => {
    const v = weights[i] as tf.Tensor;
    if (v.shape.join('x') !== w.shape.join('x'))
      throw new UserError(`checkpoint weight ${i} has shape [${v.shape}], the model [${w.shape}]`, dir);
  });
  full.setWeights(weights); // copies the values: the loaded model can go
  saved.dispose();
  afterWeights?.();
  let manifest: { weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
  let data: Buffer;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'optimizer.json'), 'utf8'));
    data = await readFile(join(dir, 'optimizer.bin'));
  } catch {
    throw new UserError('checkpoint has no readable optimizer state (optimizer.json, optimizer.bin)', dir);
  }
  const specs = manifest.weightsManifest.flatMap((g) => g.weights);
  const named = tf.io.decodeWeights(new Uint8Array(data).buffer, specs);
  await trainer.optimizers.setWeights(specs.map((s) => ({ name: s.name, tensor: named[s.name] as tf.Tensor })));
}

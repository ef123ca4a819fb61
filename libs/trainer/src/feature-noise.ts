/**
 * Feature noise (`data.augment.featureNoise`): Gaussian noise added to a training batch's
 * boundary activations, after the frozen prefix, so it needs no augmented views and the cache
 * keeps serving the prefix's exact values. Each sample's noise is drawn from its own generator,
 * keyed by (seed, epoch, sample): a sample gets the same noise whichever rank trains it and
 * whatever batch it falls in, so N workers still train what one process trains.
 */
import { noiseKey, seededRandom } from '@permafrost/data';
import * as tf from '@tensorflow/tfjs-core';

export interface FeatureNoise {
  /** standard deviation */
  std: number;
  seed: number;
  epoch: number;
}

/** Fills `out` with normal deviates of standard deviation `std` (Box-Muller, both outputs used). */
export function fillGaussian(out: Float32Array, rand: () => number, std: number): void {
  for (let i = 0; i < out.length; i += 2) {
    const radius = std * Math.sqrt(-2 * Math.log(1 - rand()));
    const angle = 2 * Math.PI * rand();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = radius * Math.sin(angle);
  }
}

/** The noise of `ids`' samples, row by row, for activations of `elements` values per sample. */
export function featureNoise(ids: readonly number[], elements: number, noise: FeatureNoise): Float32Array {
  const out = new Float32Array(ids.length * elements);
  ids.forEach((id, i) => {
    fillGaussian(out.subarray(i * elements, (i + 1) * elements), seededRandom(noiseKey(noise.seed, noise.epoch, id)), noise.std);
  });
  return out;
}

/** `acts` (one row per id of `ids`) plus their noise; disposes `acts`. */
export function withFeatureNoise(acts: tf.Tensor, ids: readonly number[], noise: FeatureNoise): tf.Tensor {
  const elements = ids.length > 0 ? acts.size / ids.length : 0;
  const out = tf.tidy(() => tf.add(acts, tf.tensor(featureNoise(ids, elements, noise), acts.shape)));
  acts.dispose();
  return out;
}

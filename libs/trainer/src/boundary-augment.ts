/**
 * Augmentation after the boundary (`data.augment.featureNoise`, `data.augment.featureDropout`),
 * applied to a training batch's boundary activations once the frozen prefix or the cache has
 * served them. It changes nothing the prefix computes, so it needs no augmented views and the
 * cache keeps storing and serving the prefix's exact values. Validation never comes here.
 *
 * Each sample's draws come from generators of its own, keyed by (seed, epoch, sample), one for
 * the noise and one for the dropout mask: a sample gets the same noise and mask whichever rank
 * trains it and whatever batch it falls in, so N workers still train what one process trains.
 *
 * Per value: Gaussian noise of standard deviation `featureNoise` is added, then inverted dropout
 * zeroes the value with probability `featureDropout` and scales a kept one by
 * 1/(1 - featureDropout), so a dropped feature carries nothing and the expected value is kept.
 */
import { dropoutKey, noiseKey, seededRandom } from '@permafrost/data';
import * as tf from '@tensorflow/tfjs-core';

export interface BoundaryAugment {
  /** standard deviation of the noise (0: none) */
  featureNoise: number;
  /** probability that a value is dropped, in [0, 1) (0: none) */
  featureDropout: number;
}

/** Which draws: the job's seed and the 1-based epoch. */
export interface BoundaryDraw {
  seed: number;
  epoch: number;
}

/** Fills `out` from `rand` with a draw of parameter `param` (a standard deviation, a rate). */
type Fill = (out: Float32Array, rand: () => number, param: number) => void;

/** Fills `out` with normal deviates of standard deviation `std` (Box-Muller, both outputs used). */
export function fillGaussian(out: Float32Array, rand: () => number, std: number): void {
  for (let i = 0; i < out.length; i += 2) {
    const radius = std * Math.sqrt(-2 * Math.log(1 - rand()));
    const angle = 2 * Math.PI * rand();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = radius * Math.sin(angle);
  }
}

/** Fills `out` with an inverted-dropout mask: 0 with probability `rate`, else 1/(1 - rate). */
export function fillDropoutMask(out: Float32Array, rand: () => number, rate: number): void {
  const kept = 1 / (1 - rate);
  for (let i = 0; i < out.length; i++) out[i] = rand() < rate ? 0 : kept;
}

/** One row of `elements` values per id of `ids`, each filled from the generator keyed by (seed, epoch, id). */
function perSample(
  ids: readonly number[],
  elements: number,
  at: BoundaryDraw,
  keyOf: (seed: number, epoch: number, sample: number) => number,
  fill: Fill,
  param: number,
): Float32Array {
  const out = new Float32Array(ids.length * elements);
  ids.forEach((id, i) => {
    fill(out.subarray(i * elements, (i + 1) * elements), seededRandom(keyOf(at.seed, at.epoch, id)), param);
  });
  return out;
}

/** The noise of `ids`' samples, row by row, for activations of `elements` values per sample. */
export function featureNoise(ids: readonly number[], elements: number, std: number, at: BoundaryDraw): Float32Array {
  return perSample(ids, elements, at, noiseKey, fillGaussian, std);
}

/** The dropout masks of `ids`' samples, row by row, for activations of `elements` values per sample. */
export function featureDropoutMask(ids: readonly number[], elements: number, rate: number, at: BoundaryDraw): Float32Array {
  return perSample(ids, elements, at, dropoutKey, fillDropoutMask, rate);
}

/**
 * `acts` (one row per id of `ids`, a training batch) with the augmentation of `aug` applied;
 * disposes `acts` unless it is returned as it is (nothing to apply).
 */
export function augmentBoundary(acts: tf.Tensor, ids: readonly number[], aug: BoundaryAugment, at: BoundaryDraw): tf.Tensor {
  if (!(aug.featureNoise > 0 || aug.featureDropout > 0) || ids.length === 0) return acts;
  const elements = acts.size / ids.length;
  const out = tf.tidy(() => {
    const noisy = aug.featureNoise > 0 ? tf.add(acts, tf.tensor(featureNoise(ids, elements, aug.featureNoise, at), acts.shape)) : acts;
    return aug.featureDropout > 0 ? tf.mul(noisy, tf.tensor(featureDropoutMask(ids, elements, aug.featureDropout, at), acts.shape)) : noisy;
  });
  acts.dispose();
  return out;
}

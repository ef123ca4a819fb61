/**
 * Input augmentation: the standard image set (random crop with zero padding, horizontal flip,
 * brightness and contrast jitter) applied to decoded pixels in [0, 1], NHWC, before
 * preprocessing.
 *
 * Every random choice comes from one 32-bit key per sample (`epochKey` or `viewKey`), so a
 * sample's transform depends on nothing else: the batch it falls in, the rank that trains it or
 * the order of reads. Plain typed-array arithmetic, so every process computes the same bytes.
 *
 * Order per sample: crop (a shift by up to `crop` pixels each way, zeros where the padding shows),
 * flip, contrast (the distance from the image's mean scaled by a factor in [1-c, 1+c]), brightness
 * (an offset in [-b, b]), clamped to [0, 1].
 */
import type { RawBatch } from './dataset';
import { deriveSeed, seededRandom, shuffleInPlace } from './seeded-random';

export interface AugmentSpec {
  /** padding in pixels on each side before a crop of the original size; 0: no crop */
  crop: number;
  flip: boolean;
  brightness: number;
  contrast: number;
}

/** One sample's drawn transform. */
export interface SampleTransform {
  /** shift of the content in pixels, in [-crop, crop] */
  dx: number;
  dy: number;
  flip: boolean;
  /** added after the contrast change */
  offset: number;
  /** scales the distance from the image mean */
  factor: number;
}

const EPOCH_SALT = 0xa09e;
const VIEW_SALT = 0xa0f1;
const PICK_SALT = 0xa0c4;
const NOISE_SALT = 0xa0e5;
const DROPOUT_SALT = 0xa0d7;

/** The key of sample `sample`'s fresh transform in epoch `epoch` (cache.views 0). */
export function epochKey(seed: number, epoch: number, sample: number): number {
  return deriveSeed(seed, EPOCH_SALT, epoch, sample);
}

/** The key of view `view` of sample `sample`: the same in every epoch and every run of the seed. */
export function viewKey(seed: number, view: number, sample: number): number {
  return deriveSeed(seed, VIEW_SALT, view, sample);
}

/**
 * Which of `views` views sample `sample` trains on in epoch `epoch` (1-based): epochs go in
 * cycles of `views`, and in each cycle the sample visits every view once, in an order drawn from
 * (seed, cycle, sample). So the first `views` epochs compute each view once, and later epochs
 * find them all cached.
 */
export function pickView(seed: number, epoch: number, sample: number, views: number): number {
  const cycle = Math.floor((epoch - 1) / views);
  const order = shuffleInPlace(
    Array.from({ length: views }, (_, v) => v),
    seededRandom(deriveSeed(seed, PICK_SALT, cycle, sample)),
  );
  return order[(((epoch - 1) % views) + views) % views] as number;
}

/** The key of sample `sample`'s activation noise in epoch `epoch` (featureNoise). */
export function noiseKey(seed: number, epoch: number, sample: number): number {
  return deriveSeed(seed, NOISE_SALT, epoch, sample);
}

/** The key of sample `sample`'s activation dropout mask in epoch `epoch` (featureDropout). */
export function dropoutKey(seed: number, epoch: number, sample: number): number {
  return deriveSeed(seed, DROPOUT_SALT, epoch, sample);
}

/** Whether the spec changes the input at all. */
export function changesInput(spec: AugmentSpec): boolean {
  return spec.crop > 0 || spec.flip || spec.brightness > 0 || spec.contrast > 0;
}

/** Draws the transform of `key`; a field the spec leaves out is the identity (no draw is skipped). */
export function drawTransform(spec: AugmentSpec, key: number): SampleTransform {
  const r = seededRandom(key);
  const shift = () => Math.floor(r() * (2 * spec.crop + 1)) - spec.crop;
  const dx = shift();
  const dy = shift();
  const flip = r() < 0.5;
  const offset = (2 * r() - 1) * spec.brightness;
  const factor = 1 + (2 * r() - 1) * spec.contrast;
  return {
    dx: spec.crop > 0 ? dx : 0,
    dy: spec.crop > 0 ? dy : 0,
    flip: spec.flip && flip,
    offset: spec.brightness > 0 ? offset : 0,
    factor: spec.contrast > 0 ? factor : 1,
  };
}

/** Stable description of the spec for cache fingerprints; bump the leading version when the numerics change. */
export function augmentId(spec: AugmentSpec): string {
  return `aug1:crop${spec.crop}:flip${spec.flip ? 1 : 0}:b${spec.brightness}:c${spec.contrast}`;
}

/** Applies one transform per sample (in the batch's order) to a copy of the batch's pixels. */
export function augmentBatch(batch: RawBatch, transforms: readonly SampleTransform[]): RawBatch {
  const [n, h, w, c] = batch.shape;
  if (transforms.length !== n) throw new RangeError(`${transforms.length} transforms for a batch of ${n}`);
  const size = h * w * c;
  const out = new Float32Array(batch.pixels.length);
  for (let i = 0; i < n; i++) {
    const t = transforms[i] as SampleTransform;
    const src = batch.pixels.subarray(i * size, (i + 1) * size);
    const dst = out.subarray(i * size, (i + 1) * size);
    placeShifted(src, dst, h, w, c, t);
    jitter(dst, t);
  }
  return { ...batch, pixels: out };
}

/** dst(y, x) = src(y - dy, x' - dx), x' mirrored when flipped; zeros outside the source. */
function placeShifted(src: Float32Array, dst: Float32Array, h: number, w: number, c: number, t: SampleTransform): void {
  for (let y = 0; y < h; y++) {
    const sy = y - t.dy;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < w; x++) {
      const fx = t.flip ? w - 1 - x : x;
      const sx = fx - t.dx;
      if (sx < 0 || sx >= w) continue;
      const from = (sy * w + sx) * c;
      const to = (y * w + x) * c;
      for (let k = 0; k < c; k++) dst[to + k] = src[from + k] as number;
    }
  }
}

function jitter(px: Float32Array, t: SampleTransform): void {
  if (t.factor === 1 && t.offset === 0) return;
  let mean = 0;
  for (const v of px) mean += v;
  mean /= px.length;
  for (let j = 0; j < px.length; j++) {
    const v = ((px[j] as number) - mean) * t.factor + mean + t.offset;
    px[j] = Math.min(Math.max(v, 0), 1);
  }
}

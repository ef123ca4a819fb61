/**
 * The dataset contract every source (mnist package, IDX files, image folders) implements, plus the
 * few helpers they share. A dataset is addressed by dense sample ids 0..size-1 so that splits,
 * shuffles and feature caches can be plain integer arrays, and those ids stay the same for the
 * same data so a cache written yesterday still lines up with today's reads.
 */
import { createHash } from 'node:crypto';

export interface RawBatch {
  ids: number[];
  labels: Int32Array;
  /** values in [0,1], NHWC */
  pixels: Float32Array;
  shape: [number, number, number, number];
}

export interface Dataset {
  /** identity string for cache fingerprints: changes when the data changes */
  readonly id: string;
  /** what the user wrote, e.g. 'mnist', 'fashion-mnist', 'idx:/x', 'imagefolder:/x' */
  readonly name: string;
  /** number of samples; sample ids are 0..size-1, stable for the same data */
  readonly size: number;
  readonly numClasses: number;
  readonly classNames: string[];
  /** native per-sample shape [h,w,c] when fixed (mnist/idx: [28,28,1]); undefined when images vary (imagefolder) */
  readonly sampleShape: [number, number, number] | undefined;
  label(id: number): number;
  /**
   * Reads samples in the given order. `sizePx`: when the dataset has no fixed shape, images are
   * decoded and resized to sizePx x sizePx; datasets with a fixed shape ignore it.
   */
  read(ids: readonly number[], opts?: { sizePx?: number }): Promise<RawBatch>;
  close(): Promise<void>;
}

/** What a file dataset's id covers per file: size and mtime (stat), or a SHA-256 of the bytes (content). */
export type FingerprintMode = 'stat' | 'content';

export interface OpenDatasetOptions {
  /** default /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist) */
  fashionMnistDir?: string;
  /** default 'train' */
  split?: 'train' | 'test';
  /** the check of every file at open: headers (default), full (decode everything) or none */
  validate?: 'full' | 'headers' | 'none';
  /** what an imagefolder dataset's id covers per file (default stat: size and mtime) */
  fingerprint?: FingerprintMode;
}

/** Out-of-range ids are a caller bug, not a user mistake, hence RangeError rather than UserError. */
export function checkIds(ids: readonly number[], size: number): void {
  for (const id of ids) checkId(id, size);
}

export function checkId(id: number, size: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= size) {
    throw new RangeError(`sample id ${id} is out of range 0..${size - 1}`);
  }
}

/** Short content hash for dataset ids; 64 bits is plenty to tell file listings apart. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** byte value -> [0,1]; a table avoids a division per pixel on the hot read path. */
export const BYTE_TO_UNIT: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 255;
  return t;
})();

export function assertOpen(closed: boolean, name: string): void {
  if (closed) throw new Error(`dataset '${name}' is closed`);
}

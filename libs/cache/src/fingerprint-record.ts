/**
 * What the meta database says about each fingerprint (`"fp:<hex>"` -> JSON): what the runs
 * describe when they register it (FingerprintInfo), and what the cache adds and keeps up to date
 * (FingerprintRecord: id, counts, times, and whether a boundary advance superseded it).
 */
export interface FingerprintInfo {
  fingerprint: string;
  model: string;
  boundary: string;
  topologyHash: string;
  weightsHash: string;
  preprocess: string;
  dataset: string;
  datasetId: string;
  inputSize: number;
  /** activation shape without the batch dimension */
  shape: number[];
  dtype: 'float32';
  /** an augmented view's transform (augmentation, seed, view); absent: the input as decoded */
  augment?: string;
  /** how to rebuild the prefix and the dataset (`cache verify`); absent in records of older runs */
  recipe?: PrefixRecipe;
}

/**
 * The job sections a fingerprint's activations were computed from, enough to rebuild the prefix
 * (with `boundary`) and to reopen the dataset. The cache stores it and never interprets it; the
 * trainer writes and reads it (trainer/prefix-recipe.ts).
 */
export interface PrefixRecipe {
  model: Record<string, unknown>;
  data: Record<string, unknown>;
  seed: number;
  /** the augmented view (of `data.augment`) the entries hold */
  view?: number;
}

export interface FingerprintRecord extends FingerprintInfo {
  id: number;
  entries: number;
  bytes: number;
  created: string;
  lastUsed: string;
  hits: number;
  misses: number;
  checksumFailures: number;
  /** set when a boundary advance replaced this fingerprint: the newer one's hex */
  supersededBy?: string;
  supersededAt?: string;
}

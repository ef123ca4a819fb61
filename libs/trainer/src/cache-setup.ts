/**
 * Connects a run to its activation cache: refuses non-deterministic prefixes, opens the LMDB
 * environment, and registers the prefix's fingerprint, with the recipe that rebuilds the prefix
 * (`cache verify`). Any failure to open (a read-only or unusable directory) is one warning and an
 * uncached run, never a crash.
 */
import { ActivationCache, type Codec, type FingerprintHandle, fingerprintOf, type PrefixRecipe } from '@permafrost/cache';
import { type Dataset, preprocessId } from '@permafrost/data';
import { type InputSpec, prefixIdentity } from '@permafrost/model';
import { log } from '@permafrost/telemetry';
import type * as tfl from '@tensorflow/tfjs-layers';

export interface CacheSpec {
  dir: string;
  codec: Codec;
  /** how to rebuild the prefix and dataset (prefix-recipe.ts); stored in the fingerprint's record */
  recipe?: PrefixRecipe;
}

export interface PrefixFingerprint {
  fingerprint: string;
  topologyHash: string;
  weightsHash: string;
  preprocess: string;
  /** layers that make the prefix non-deterministic (it is then never cached) */
  randomLayers: string[];
  /** an augmented view's tag (augment-lanes.ts viewTag); absent: the input as decoded */
  augment?: string;
}

/**
 * The fingerprint of a model's frozen prefix over a dataset (what the cache keys entries by);
 * `augment`: the tag of the augmented view of the input the entries hold.
 */
export function prefixFingerprint(model: PrefixStage, dataset: Dataset, augment?: string): PrefixFingerprint {
  const id = prefixIdentity(model.prefix);
  const preprocess = preprocessId(model.input);
  const fingerprint = fingerprintOf({
    topologyHash: id.topologyHash,
    weightsHash: id.weightsHash,
    boundary: model.boundary,
    preprocess,
    datasetId: dataset.id,
    ...(augment === undefined ? {} : { augment }),
  });
  const out = { fingerprint, topologyHash: id.topologyHash, weightsHash: id.weightsHash, preprocess, randomLayers: id.randomLayers };
  return augment === undefined ? out : { ...out, augment };
}

export interface OpenedCache {
  store: ActivationCache;
  handle: FingerprintHandle;
  fingerprint: string;
}

/** The part of a split that a cache fingerprint describes. */
export interface PrefixStage {
  prefix: tfl.LayersModel;
  boundary: string;
  boundaryShape: number[];
  input: InputSpec;
}

export function openRunCache(model: PrefixStage, dataset: Dataset, modelName: string, spec: CacheSpec): OpenedCache | undefined {
  const id = prefixFingerprint(model, dataset);
  if (!deterministic(id)) return undefined;
  let store: ActivationCache;
  try {
    store = ActivationCache.open(spec.dir, { codec: spec.codec });
  } catch (e) {
    log().warn('activation cache unavailable; training uncached', { dir: spec.dir, error: (e as Error).message });
    return undefined;
  }
  const opened = registerPrefix(store, model, dataset, modelName, spec.recipe, id);
  if (!opened) void store.close();
  return opened;
}

function deterministic(id: PrefixFingerprint): boolean {
  if (id.randomLayers.length === 0) return true;
  log().warn('activation cache refused: the frozen prefix is not deterministic; training uncached', {
    layers: id.randomLayers,
    hint: 'move the boundary before these layers or remove them',
  });
  return false;
}

/**
 * Registers the fingerprint of `model`'s prefix in an open store (a boundary advance registers the
 * new boundary's prefix in the same store). undefined: the cache cannot be used for it.
 */
export function registerPrefix(
  store: ActivationCache,
  model: PrefixStage,
  dataset: Dataset,
  modelName: string,
  recipe?: PrefixRecipe,
  known?: PrefixFingerprint,
): OpenedCache | undefined {
  const id = known ?? prefixFingerprint(model, dataset);
  if (!deterministic(id)) return undefined;
  const { fingerprint, preprocess } = id;
  try {
    const handle = store.register({
      fingerprint,
      model: modelName,
      boundary: model.boundary,
      topologyHash: id.topologyHash,
      weightsHash: id.weightsHash,
      preprocess,
      dataset: dataset.name,
      datasetId: dataset.id,
      inputSize: model.input.sizePx,
      shape: model.boundaryShape,
      dtype: 'float32',
      ...(id.augment === undefined ? {} : { augment: id.augment }),
      ...(recipe ? { recipe } : {}),
    });
    log().info('activation cache', {
      dir: store.dir,
      boundary: model.boundary,
      fingerprint: fingerprint.slice(0, 16),
      id: handle.id,
      ...(id.augment === undefined ? {} : { view: id.augment }),
      codec: store.codec,
    });
    return { store, handle, fingerprint };
  } catch (e) {
    log().warn('activation cache unavailable; training uncached', { dir: store.dir, error: (e as Error).message });
    return undefined;
  }
}

/**
 * Connects a run to its activation cache: refuses non-deterministic prefixes, opens the LMDB
 * environment, and registers the prefix's fingerprint, with the recipe that rebuilds the prefix
 * (`cache verify`). Any failure to open (a read-only or unusable directory) is one warning and an
 * uncached run, never a crash.
 */
import { ActivationCache, type Codec, type FingerprintHandle, fingerprintOf, type PrefixRecipe } from '@permafrost/cache';
import { type Dataset, preprocessId } from '@permafrost/data';
import { type Assembled, prefixIdentity } from '@permafrost/model';
import { log } from '@permafrost/telemetry';

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
}

/** The fingerprint of a model's frozen prefix over a dataset (what the cache keys entries by). */
export function prefixFingerprint(model: Assembled, dataset: Dataset): PrefixFingerprint {
  const id = prefixIdentity(model.prefix);
  const preprocess = preprocessId(model.input);
  const fingerprint = fingerprintOf({
    topologyHash: id.topologyHash,
    weightsHash: id.weightsHash,
    boundary: model.boundary,
    preprocess,
    datasetId: dataset.id,
  });
  return { fingerprint, topologyHash: id.topologyHash, weightsHash: id.weightsHash, preprocess, randomLayers: id.randomLayers };
}

export interface OpenedCache {
  store: ActivationCache;
  handle: FingerprintHandle;
  fingerprint: string;
}

export function openRunCache(model: Assembled, dataset: Dataset, modelName: string, spec: CacheSpec): OpenedCache | undefined {
  const id = prefixFingerprint(model, dataset);
  if (id.randomLayers.length > 0) {
    log().warn('activation cache refused: the frozen prefix is not deterministic; training uncached', {
      layers: id.randomLayers,
      hint: 'move the boundary before these layers or remove them',
    });
    return undefined;
  }
  const { fingerprint, preprocess } = id;
  try {
    const store = ActivationCache.open(spec.dir, { codec: spec.codec });
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
      ...(spec.recipe ? { recipe: spec.recipe } : {}),
    });
    log().info('activation cache', { dir: spec.dir, fingerprint: fingerprint.slice(0, 16), id: handle.id, codec: spec.codec });
    return { store, handle, fingerprint };
  } catch (e) {
    log().warn('activation cache unavailable; training uncached', { dir: spec.dir, error: (e as Error).message });
    return undefined;
  }
}

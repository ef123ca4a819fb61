/**
 * What every run builds from a validated job spec, in one process or on each rank of a fleet:
 * the backend, the dataset and its seeded train/validation split, and the assembled model (seeded,
 * so every rank starts bit-identical). Also the pieces of the report that describe them.
 */
import { type Dataset, openDataset, splitTrainVal } from '@permafrost/data';
import { type EngineInfo, initEngine } from '@permafrost/engine';
import type { JobSpec } from '@permafrost/job';
import { type Assembled, assemble } from '@permafrost/model';
import type { AugmentSettings } from './augment-lanes';
import type { CacheSpec } from './cache-setup';
import { freezePolicy } from './freeze-setup';
import { prefixRecipe } from './prefix-recipe';

export interface PreparedRun {
  engine: EngineInfo;
  dataset: Dataset;
  train: number[];
  val: number[];
  model: Assembled;
}

/** A job's dataset, opened (and checked) as the job's data section says; the caller closes it. */
export function openJobDataset(job: JobSpec): Promise<Dataset> {
  const { dataset, fashionMnistDir, validate, fingerprint } = job.data;
  return openDataset(dataset, { fashionMnistDir, validate, fingerprint });
}

/** The job's seeded train/validation split of its dataset: the same on every rank. */
export function jobSplit(job: JobSpec, dataset: Dataset): { train: number[]; val: number[] } {
  return splitTrainVal(dataset, { seed: job.train.seed, trainSamples: job.data.trainSamples, valSamples: job.data.valSamples });
}

/** The caller owns `dataset` and closes it. */
export async function prepareRun(job: JobSpec): Promise<PreparedRun> {
  const engine = await initEngine(job.train.backend, { threads: job.train.threads });
  const dataset = await openJobDataset(job);
  try {
    const { train, val } = jobSplit(job, dataset);
    const model = await assemble(job.model, job.freeze, dataset.numClasses, job.train.seed);
    return { engine, dataset, train, val, model };
  } catch (e) {
    await dataset.close();
    throw e;
  }
}

export interface ModelInfo {
  name: string;
  source: string;
  head: string | undefined;
  boundary: string;
  boundaryShape: number[];
  /** layers frozen at the start (0: nothing frozen, the activation cache stays closed) */
  frozenLayers: number;
  params: number;
  trainableParams: number;
  inputSize: number;
}

export function describeModel(job: JobSpec, model: Assembled): ModelInfo {
  return {
    name: job.model.name,
    source: model.source,
    head: model.head,
    boundary: model.boundary,
    boundaryShape: model.boundaryShape,
    frozenLayers: model.prefix.layers.filter((l) => l.getClassName() !== 'InputLayer').length,
    params: model.full.countParams(),
    trainableParams: model.suffix.trainableWeights.reduce((a, w) => a + w.shape.reduce<number>((x, y) => x * (y ?? 1), 1), 0),
    inputSize: model.input.sizePx,
  };
}

/** The training loop's options every run of `job` shares, one process or a rank of a fleet. */
export function loopOptionsOf(job: JobSpec, run: PreparedRun) {
  const { model, dataset, train, val } = run;
  const { epochs, batchSize, seed } = job.train;
  return {
    model,
    dataset,
    trainIds: train,
    valIds: val,
    epochs,
    batchSize,
    seed,
    optimizer: job.train,
    freeze: freezePolicy(job.freeze),
    ...(job.data.augment ? { augment: augmentOf(job.data.augment, job.cache.views) } : {}),
  };
}

/** The loop's augmentation settings from the job's data.augment and cache.views. */
export function augmentOf(augment: NonNullable<JobSpec['data']['augment']>, views: number): AugmentSettings {
  const { featureNoise, featureDropout, ...spec } = augment;
  return { spec, featureNoise, featureDropout, views };
}

/** Where a job's checkpoints go (checkpoint.dir, else .permafrost/checkpoints). */
export function checkpointRoot(job: JobSpec): string {
  return job.checkpoint.dir ?? '.permafrost/checkpoints';
}

/** The loop's cache settings for a job, with the cache in `dir` (a worker has its own); undefined when disabled. */
export function cacheOf(job: JobSpec, dir: string): (CacheSpec & { modelName: string }) | undefined {
  return job.cache.enabled ? { dir, codec: job.cache.codec, modelName: job.model.name, recipe: prefixRecipe(job) } : undefined;
}

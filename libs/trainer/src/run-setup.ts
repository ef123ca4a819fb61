/**
 * What every run builds from a validated job spec, in one process or on each rank of a fleet:
 * the backend, the dataset and its seeded train/validation split, and the assembled model (seeded,
 * so every rank starts bit-identical). Also the pieces of the report that describe them.
 */
import { type Dataset, openDataset, splitTrainVal } from '@permafrost/data';
import { type EngineInfo, initEngine } from '@permafrost/engine';
import type { JobSpec } from '@permafrost/job';
import { type Assembled, assemble } from '@permafrost/model';

export interface PreparedRun {
  engine: EngineInfo;
  dataset: Dataset;
  train: number[];
  val: number[];
  model: Assembled;
}

/** The caller owns `dataset` and closes it. */
export async function prepareRun(job: JobSpec): Promise<PreparedRun> {
  const engine = await initEngine(job.train.backend);
  const dataset = await openDataset(job.data.dataset, {
    fashionMnistDir: job.data.fashionMnistDir,
    validate: job.data.validate,
    fingerprint: job.data.fingerprint,
  });
  try {
    const { train, val } = splitTrainVal(dataset, {
      seed: job.train.seed,
      trainSamples: job.data.trainSamples,
      valSamples: job.data.valSamples,
    });
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
    params: model.full.countParams(),
    trainableParams: model.suffix.trainableWeights.reduce((a, w) => a + w.shape.reduce<number>((x, y) => x * (y ?? 1), 1), 0),
    inputSize: model.input.sizePx,
  };
}

export interface FinalMetrics {
  valLoss: number;
  valAccuracy: number;
  trainLoss: number;
  /** training seconds over all epochs */
  seconds: number;
  samplesPerSec: number;
}

/** The report's `final` numbers from its epoch records. */
export function finalMetrics(
  epochs: readonly { seconds: number; samplesPerSec: number; valLoss: number; valAccuracy: number; trainLoss: number }[],
): FinalMetrics {
  const last = epochs.at(-1);
  const seconds = epochs.reduce((a, e) => a + e.seconds, 0);
  const samples = epochs.reduce((a, e) => a + e.samplesPerSec * e.seconds, 0);
  return {
    valLoss: last?.valLoss ?? Number.NaN,
    valAccuracy: last?.valAccuracy ?? Number.NaN,
    trainLoss: last?.trainLoss ?? Number.NaN,
    seconds,
    samplesPerSec: samples / Math.max(seconds, 1e-9),
  };
}

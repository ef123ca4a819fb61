/**
 * Train/validation split. One seeded permutation of all sample ids: validation takes its head,
 * training the next `trainSamples`. Because validation is the head, asking for fewer or more
 * training samples never moves a sample between the two sets, so validation numbers stay
 * comparable across runs that only change the training budget. Only the needed prefix of the
 * permutation is shuffled, so small subsets of huge datasets are cheap.
 */
import { UserError } from '@permafrost/telemetry';
import type { Dataset } from './dataset';
import { deriveSeed, seededRandom, shuffleInPlace } from './seeded-random';

export interface SplitOptions {
  seed: number;
  /** default: every sample not used for validation */
  trainSamples?: number;
  /** default: min(1000, 10% of size) */
  valSamples?: number;
}

// Keeps the split stream apart from epoch shuffles drawn from the same user seed.
const SPLIT_SALT = 0x59117;

function checkCount(value: number | undefined, field: string, min: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min) {
    throw new UserError(`must be an integer >= ${min}, got ${value}`, field);
  }
}

export function splitTrainVal(ds: Pick<Dataset, 'size'>, opts: SplitOptions): { train: number[]; val: number[] } {
  const size = ds.size;
  checkCount(opts.valSamples, 'data.valSamples', 0);
  checkCount(opts.trainSamples, 'data.trainSamples', 1);
  const valSamples = opts.valSamples ?? Math.min(1000, Math.floor(size / 10));
  const trainSamples = opts.trainSamples ?? size - valSamples;
  if (trainSamples + valSamples > size) {
    throw new UserError(`trainSamples ${trainSamples} + valSamples ${valSamples} exceeds the dataset size ${size}`, 'data.trainSamples');
  }
  if (trainSamples < 1) {
    throw new UserError(`valSamples ${valSamples} leaves no training samples (dataset has ${size})`, 'data.valSamples');
  }
  const order = new Uint32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  shuffleInPlace(order, seededRandom(deriveSeed(opts.seed, SPLIT_SALT)), valSamples + trainSamples);
  // Ascending ids read faster (sequential file access); callers shuffle per epoch anyway.
  const val = Array.from(order.subarray(0, valSamples)).sort((a, b) => a - b);
  const train = Array.from(order.subarray(valSamples, valSamples + trainSamples)).sort((a, b) => a - b);
  return { train, val };
}

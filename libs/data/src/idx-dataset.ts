/**
 * A dataset made of an IDX image file and an IDX label file, in the layout of the MNIST family:
 * `train-images-idx3-ubyte` + `train-labels-idx1-ubyte` (the test split uses the `t10k-` prefix),
 * each optionally gzipped. Labels are one byte per sample and are needed synchronously by
 * `label()`, so they live in memory; images are read per request.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '@permafrost/telemetry';
import { contiguousRuns } from './contiguous-runs';
import { assertOpen, BYTE_TO_UNIT, checkId, checkIds, type Dataset, type RawBatch, shortHash } from './dataset';
import { type IdxFile, openIdxFile } from './idx-file';

export interface IdxDatasetOptions {
  /** Dataset.name, what the user wrote */
  name: string;
  /** first component of Dataset.id, e.g. 'idx' or 'fashion-mnist' */
  idPrefix: string;
  /** fixed class names; default '0'..'N-1' with N = largest label + 1 */
  classNames?: string[];
  /** builds the error for a missing directory or file, so each dataset kind can say how to get it */
  notFound: (detail: string) => UserError;
}

// Bounds the buffer of one coalesced read; larger runs are split.
const MAX_RUN_BYTES = 8 << 20;

async function statOrUndefined(path: string) {
  return stat(path).catch(() => undefined);
}

/** Accepts the canonical name and the dotted variant some mirrors use, plain preferred over `.gz`. */
async function findFile(dir: string, prefix: string, kind: 'images' | 'labels'): Promise<string | undefined> {
  const rank = kind === 'images' ? 3 : 1;
  const bases = [`${prefix}-${kind}-idx${rank}-ubyte`, `${prefix}-${kind}.idx${rank}-ubyte`];
  for (const name of bases.flatMap((b) => [b, `${b}.gz`])) {
    const path = join(dir, name);
    if ((await statOrUndefined(path))?.isFile()) return path;
  }
  return undefined;
}

async function fingerprint(paths: string[]): Promise<string> {
  const parts = await Promise.all(
    paths.map(async (p) => {
      const s = await stat(p);
      return `${p}\t${s.size}\t${s.mtimeMs}`;
    }),
  );
  return shortHash(parts.join('\n'));
}

async function readLabels(file: IdxFile, images: IdxFile, classNames: string[] | undefined): Promise<Uint8Array> {
  const n = file.dims[0] ?? 0;
  if (n !== images.dims[0]) {
    throw new UserError(`has ${n} labels but ${images.path} has ${images.dims[0]} images`, file.path);
  }
  const labels = (await file.source.read(file.dataOffset, n)).slice();
  if (classNames) {
    const bad = labels.findIndex((l) => l >= classNames.length);
    if (bad >= 0) throw new UserError(`label ${labels[bad]} at sample ${bad} is not below ${classNames.length}`, file.path);
  }
  return labels;
}

/** Finds the split's two files in `dir`; a missing directory or file is the caller's notFound error. */
async function idxPaths(
  dir: string,
  split: 'train' | 'test',
  opts: IdxDatasetOptions,
): Promise<{ imagesPath: string; labelsPath: string }> {
  if (!(await statOrUndefined(dir))?.isDirectory()) throw opts.notFound(`directory ${dir} does not exist`);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesPath = await findFile(dir, prefix, 'images');
  const labelsPath = await findFile(dir, prefix, 'labels');
  if (!imagesPath || !labelsPath) {
    const missing = imagesPath ? `${prefix}-labels-idx1-ubyte` : `${prefix}-images-idx3-ubyte`;
    throw opts.notFound(`no ${missing}[.gz] in ${dir}`);
  }
  return { imagesPath, labelsPath };
}

/** The images file, open, and the labels, checked against it; nothing is left open on an error. */
async function openIdxPair(imagesPath: string, labelsPath: string, classNames: string[] | undefined) {
  const images = await openIdxFile(imagesPath, 'images');
  try {
    const labelFile = await openIdxFile(labelsPath, 'labels');
    let labels: Uint8Array;
    try {
      labels = await readLabels(labelFile, images, classNames);
    } finally {
      await labelFile.source.close();
    }
    if (labels.length === 0) throw new UserError('contains no samples', imagesPath);
    if (!images.dims[1] || !images.dims[2]) throw new UserError(`has empty images (${images.dims.join('x')})`, imagesPath);
    return { images, labels };
  } catch (e) {
    await images.source.close();
    throw e;
  }
}

export async function openIdxDataset(dir: string, split: 'train' | 'test', opts: IdxDatasetOptions): Promise<Dataset> {
  const { imagesPath, labelsPath } = await idxPaths(dir, split, opts);
  const { images, labels } = await openIdxPair(imagesPath, labelsPath, opts.classNames);

  const [, h = 0, w = 0] = images.dims;
  const sampleBytes = h * w;
  const size = labels.length;
  const classNames = opts.classNames ?? Array.from({ length: labels.reduce((m, l) => Math.max(m, l), 0) + 1 }, (_, i) => String(i));
  const id = `${opts.idPrefix}:${dir}:${await fingerprint([imagesPath, labelsPath])}`;
  const maxRun = Math.max(1, Math.floor(MAX_RUN_BYTES / sampleBytes));
  let closed = false;

  return {
    id,
    name: opts.name,
    size,
    numClasses: classNames.length,
    classNames,
    sampleShape: [h, w, 1],
    label(sample) {
      checkId(sample, size);
      return labels[sample] as number;
    },
    async read(ids): Promise<RawBatch> {
      assertOpen(closed, opts.name);
      checkIds(ids, size);
      const pixels = new Float32Array(ids.length * sampleBytes);
      await Promise.all(
        contiguousRuns(ids, maxRun).map(async (run) => {
          const bytes = await images.source.read(images.dataOffset + run.first * sampleBytes, run.count * sampleBytes);
          const base = run.at * sampleBytes;
          for (let i = 0; i < bytes.length; i++) pixels[base + i] = BYTE_TO_UNIT[bytes[i] as number] as number;
        }),
      );
      return {
        ids: [...ids],
        labels: Int32Array.from(ids, (i) => labels[i] as number),
        pixels,
        shape: [ids.length, h, w, 1],
      };
    },
    async close() {
      closed = true;
      await images.source.close();
    },
  };
}

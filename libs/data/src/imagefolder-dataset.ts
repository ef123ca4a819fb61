/**
 * A folder of images with one subfolder per class (the torchvision ImageFolder convention):
 * class names are the sorted subfolder names, samples are each class's .png/.jpg/.jpeg files in
 * sorted order. Sorting by code unit (not locale) keeps ids identical across machines.
 *
 * Images differ in size, so there is no native sample shape: read() decodes with sharp, applies
 * EXIF orientation, drops alpha, converts to 3-channel sRGB and stretches to sizePx x sizePx.
 *
 * The dataset's id (what cache fingerprints use) covers each file's path, size and modification
 * time, so rewriting an image, even at the same size, is new data; with `fingerprint: 'content'`
 * it covers each file's SHA-256 instead (every byte read once at open), for files whose times are
 * not kept (copied with their mtimes preserved, or edited within the file system's time
 * resolution). At open every file's header is checked (image-check.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { UserError } from '@permafrost/telemetry';
import sharp from 'sharp';
import { assertOpen, BYTE_TO_UNIT, checkId, checkIds, type Dataset, type FingerprintMode, type RawBatch, shortHash } from './dataset';
import { checkImages, describeProblems, type ValidateMode } from './image-check';

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const CHANNELS = 3;

interface Entry {
  name: string;
  path: string;
  isDirectory: boolean;
  isFile: boolean;
  sizeBytes: number;
  mtimeMs: number;
}

/** Visible entries, sorted, with stat (following symlinks, so linked folders and files count). */
async function listDir(dir: string): Promise<Entry[]> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  return Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      const s = await stat(path).catch(() => undefined);
      return { name, path, isDirectory: !!s?.isDirectory(), isFile: !!s?.isFile(), sizeBytes: s?.size ?? 0, mtimeMs: s?.mtimeMs ?? 0 };
    }),
  );
}

async function decode(path: string, sizePx: number, out: Float32Array, offset: number): Promise<void> {
  let data: Buffer;
  let channels: number;
  try {
    ({
      data,
      info: { channels },
    } = await sharp(path)
      .rotate()
      .resize(sizePx, sizePx, { fit: 'fill' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new UserError(`cannot decode image (${(e as Error).message})`, path);
  }
  if (channels !== CHANNELS || data.length !== sizePx * sizePx * CHANNELS) {
    throw new Error(`${path}: sharp returned ${channels} channels / ${data.length} bytes, expected ${CHANNELS}`);
  }
  for (let i = 0; i < data.length; i++) out[offset + i] = BYTE_TO_UNIT[data[i] as number] as number;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every class's images in order, with their labels and the listing the dataset id is a hash of. */
async function listImages(dir: string, classes: Entry[], mode: FingerprintMode) {
  const paths: string[] = [];
  const labelList: number[] = [];
  const listing: string[] = [];
  const empty: string[] = [];
  for (const [label, cls] of classes.entries()) {
    const images = (await listDir(cls.path)).filter((e) => e.isFile && IMAGE_EXT.test(e.name));
    if (images.length === 0) empty.push(cls.path);
    for (const img of images) {
      paths.push(img.path);
      labelList.push(label);
      const identity = mode === 'content' ? await sha256(img.path) : `${img.sizeBytes}\t${img.mtimeMs}`;
      listing.push(`${relative(dir, img.path)}\t${identity}`);
    }
  }
  if (empty.length > 0) {
    const which = empty.length === 1 ? 'a class folder has' : `${empty.length} class folders have`;
    throw new UserError(`${which} no .png/.jpg/.jpeg images: ${empty.join(', ')}`, 'data.dataset');
  }
  return { paths, labelList, listing };
}

export interface ImageFolderOptions {
  /** how each file's identity enters the dataset id: stat (size and mtime, the default) or content (SHA-256) */
  fingerprint?: FingerprintMode;
  /** the check of every file at open (default headers) */
  validate?: ValidateMode;
}

export async function openImageFolderDataset(dir: string, name: string, opts: ImageFolderOptions = {}): Promise<Dataset> {
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
    throw new UserError(`image folder ${dir} does not exist`, 'data.dataset');
  }
  const classes = (await listDir(dir)).filter((e) => e.isDirectory);
  if (classes.length === 0) {
    throw new UserError(`no class subfolders in ${dir}; expected one folder of images per class`, 'data.dataset');
  }
  const { paths, labelList, listing } = await listImages(dir, classes, opts.fingerprint ?? 'stat');
  const problems = await checkImages(paths, opts.validate ?? 'headers');
  if (problems.length > 0) throw new UserError(`${describeProblems(problems)} (data.validate: none skips this check)`, 'data.dataset');
  const labels = Int32Array.from(labelList);
  const size = paths.length;
  let closed = false;

  return {
    id: `imagefolder:${dir}:${opts.fingerprint === 'content' ? 'sha256:' : ''}${shortHash(listing.join('\n'))}`,
    name,
    size,
    numClasses: classes.length,
    classNames: classes.map((c) => c.name),
    sampleShape: undefined,
    label(sample) {
      checkId(sample, size);
      return labels[sample] as number;
    },
    async read(ids, opts): Promise<RawBatch> {
      assertOpen(closed, name);
      const sizePx = opts?.sizePx;
      if (sizePx === undefined) throw new Error('imagefolder datasets have no fixed sample shape: read() needs opts.sizePx');
      if (!Number.isInteger(sizePx) || sizePx < 1) throw new RangeError(`sizePx must be a positive integer, got ${sizePx}`);
      checkIds(ids, size);
      const sampleLen = sizePx * sizePx * CHANNELS;
      const pixels = new Float32Array(ids.length * sampleLen);
      // sharp queues work on libuv's thread pool, so issuing the whole batch at once is fine.
      await Promise.all(ids.map((id, at) => decode(paths[id] as string, sizePx, pixels, at * sampleLen)));
      return {
        ids: [...ids],
        labels: Int32Array.from(ids, (i) => labels[i] as number),
        pixels,
        shape: [ids.length, sizePx, sizePx, CHANNELS],
      };
    },
    async close() {
      closed = true;
    },
  };
}

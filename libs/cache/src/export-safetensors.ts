/**
 * A `.safetensors` file written as a stream: an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw little-endian data. Two tensors:
 * `activations` (F32, [n, ...shape]) and `sample_ids` (I64, [n]), plus string metadata (the
 * fingerprint and where it came from). As with .npy the header is reserved for the expected row
 * count and rewritten at the end, space-padded to the same length (the format allows trailing
 * spaces); the sample ids follow the activations, so they are written last.
 */
import { join } from 'node:path';
import { type ArraySink, int64Bytes, RowFile } from './array-sink';

export function safetensorsHeader(rows: number, shape: readonly number[], metadata: Record<string, string>, minBytes = 0): Buffer {
  const actBytes = rows * shape.reduce((a, b) => a * b, 1) * 4;
  const json = JSON.stringify({
    __metadata__: metadata,
    activations: { dtype: 'F32', shape: [rows, ...shape], data_offsets: [0, actBytes] },
    sample_ids: { dtype: 'I64', shape: [rows], data_offsets: [actBytes, actBytes + rows * 8] },
  });
  // the data starts 8-byte aligned, as the reference writer does it
  const length = Math.ceil(Math.max(Buffer.byteLength(json), minBytes - 8) / 8) * 8;
  const out = Buffer.alloc(8 + length, 0x20);
  out.writeBigUInt64LE(BigInt(length), 0);
  out.write(json, 8, 'utf8');
  return out;
}

export function safetensorsSink(dir: string, metadata: Record<string, string>): ArraySink {
  let file: RowFile | undefined;
  let shape: number[] = [];
  return {
    begin(expectedRows, rowShape) {
      shape = rowShape;
      file = new RowFile(join(dir, 'activations.safetensors'), safetensorsHeader(expectedRows, shape, metadata));
    },
    row(values) {
      file?.append(values);
    },
    finish(sampleIds) {
      if (!file) throw new Error('finish before begin');
      try {
        file.append(int64Bytes(sampleIds));
        file.rewriteHeader(safetensorsHeader(sampleIds.length, shape, metadata, file.headerBytes));
      } finally {
        file.close();
      }
      return [file.path];
    },
    abort() {
      file?.close();
    },
  };
}

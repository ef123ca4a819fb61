/**
 * Where `cache export` streams rows: a file format writes a header for the expected row count,
 * the rows one by one, then the sample ids (and fixes the header if rows were left out). RowFile
 * is the part the formats share: a file written front to back whose header is rewritten in place
 * at the end, so a format reserves the header's length up front.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface ArraySink {
  begin(expectedRows: number, rowShape: number[]): void;
  row(values: Float32Array): void;
  /** returns the files written */
  finish(sampleIds: readonly number[]): string[];
  /** closes what is open after a failure */
  abort(): void;
}

export class RowFile {
  private fd: number;
  private at = 0;
  readonly headerBytes: number;

  constructor(
    readonly path: string,
    header: Uint8Array,
  ) {
    this.fd = openSync(path, 'w');
    this.headerBytes = header.length;
    this.append(header);
  }

  append(data: ArrayBufferView): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.at += writeSync(this.fd, bytes, 0, bytes.length, this.at);
  }

  /** Replaces the header; it must have the reserved length, or the rows would move. */
  rewriteHeader(header: Uint8Array): void {
    if (header.length !== this.headerBytes) throw new Error(`header grew from ${this.headerBytes} to ${header.length} bytes`);
    writeSync(this.fd, header, 0, header.length, 0);
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Sample ids as little-endian int64, the dtype both formats store them in. */
export function int64Bytes(ids: readonly number[]): BigInt64Array {
  return BigInt64Array.from(ids, (x) => BigInt(x));
}

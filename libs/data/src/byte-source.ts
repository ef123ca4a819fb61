/**
 * Random-access bytes from a file or from memory, behind one interface, so dataset readers do not
 * care whether their file was plain (read on demand through a file handle, so data larger than
 * memory still works) or compressed (inflated once into memory).
 */
import { type FileHandle, open } from 'node:fs/promises';
import { UserError } from '@permafrost/telemetry';

export interface ByteSource {
  readonly path: string;
  readonly byteLength: number;
  /** Exactly `length` bytes at `offset`; a short read means the file shrank or is truncated. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

function truncated(path: string, offset: number, length: number, byteLength: number): UserError {
  return new UserError(`file is truncated: needed bytes ${offset}..${offset + length} but it has ${byteLength}`, path);
}

export async function openFileSource(path: string): Promise<ByteSource> {
  let handle: FileHandle | undefined = await open(path, 'r');
  const byteLength = (await handle.stat()).size;
  return {
    path,
    byteLength,
    async read(offset, length) {
      if (!handle) throw new Error(`${path} is closed`);
      const buf = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buf, filled, length - filled, offset + filled);
        if (bytesRead === 0) throw truncated(path, offset, length, offset + filled);
        filled += bytesRead;
      }
      return buf;
    },
    async close() {
      const h = handle;
      handle = undefined;
      await h?.close();
    },
  };
}

export function memorySource(path: string, bytes: Uint8Array): ByteSource {
  return {
    path,
    byteLength: bytes.length,
    async read(offset, length) {
      if (offset + length > bytes.length) throw truncated(path, offset, length, bytes.length);
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}

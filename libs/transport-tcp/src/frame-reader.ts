/**
 * Frames (protocol.ts) out of a socket's reads, incrementally: a 1 MiB chunk arrives as many
 * reads of a few dozen KiB, and a frame's head may be cut anywhere. push() copies everything it
 * keeps out of the read before it returns and holds no reference to it, so the caller may read
 * into the same buffer again (Node's `onread`, receive-connection.ts).
 *
 * A head (prefix, fixed fields, text) is gathered in one scratch buffer per connection, a few
 * dozen bytes copied; a chunk's values are copied once, straight from each read into the
 * Float32Array the chunk will carry (one its consumer released earlier, when there is one of that
 * size), with no Buffer.concat and nothing else allocated per chunk (the signature string is
 * reused while its bytes do not change). A SHM_CHUNK's values are not
 * copied at all: its chunk is a view of the shared segment (`segment`, set once mapped), and the
 * handler learns the position to credit back. Anything malformed throws ProtocolError; the caller
 * closes the connection.
 */
import type { Chunk } from '@permafrost/collective';
import { PermafrostError } from '@permafrost/telemetry';
import { FIXED_BYTES, type Hello, Kind, LITTLE_ENDIAN, MAGIC, MAX_CHUNK_ELEMENTS, MAX_HEAD_BYTES, PREFIX_BYTES, VERSION } from './protocol';
import type { IncomingSegment } from './shared-segment';

/** released values arrays a reader keeps for reuse (a ring step's chunks in flight, roughly) */
const SPARE_BUFFERS = 8;

/** A frame that breaks the data-plane protocol: the connection is not to be trusted further. */
export class ProtocolError extends PermafrostError {
  override readonly name = 'ProtocolError';
  constructor(message: string) {
    super('data-loss', message);
  }
}

/** What a reader hands on; a side gets only the kinds the other side sends it. */
export interface FrameHandler {
  hello?(h: Hello): void;
  /** a chunk; `position`: it is a view of the shared segment, to be credited back there */
  chunk?(c: Chunk, position?: number): void;
  /** ABORT (from a sender) or REFUSE (from a receiver) of collective `sequence` */
  stop?(kind: typeof Kind.abort | typeof Kind.refuse, sequence: number, reason: string): void;
  /** ACCEPT, with the shared segment's offer ('' for none) */
  accept?(offer: string): void;
  reject?(reason: string): void;
  /** the answer to a shared segment's offer: `why` it was not mapped, undefined when it was */
  mapped?(why: string | undefined): void;
  credit?(position: number): void;
}

const KIND_NAMES: Record<number, keyof FrameHandler> = {
  [Kind.hello]: 'hello',
  [Kind.chunk]: 'chunk',
  [Kind.shmChunk]: 'chunk',
  [Kind.abort]: 'stop',
  [Kind.refuse]: 'stop',
  [Kind.accept]: 'accept',
  [Kind.reject]: 'reject',
  [Kind.mapped]: 'mapped',
  [Kind.credit]: 'credit',
};

export class FrameReader {
  private readonly head = Buffer.allocUnsafe(MAX_HEAD_BYTES);
  /** head bytes gathered, and how many the current head has (known once the prefix is in) */
  private have = 0;
  private need = PREFIX_BYTES;
  /** the chunk whose values are coming in, and the bytes of them still to come */
  private chunk: Chunk | undefined;
  private bytes: Uint8Array | undefined;
  private filled = 0;
  private signature = '';
  private readonly signatureBytes = Buffer.alloc(MAX_HEAD_BYTES);
  private signatureLength = -1;
  private stopped = false;
  /** values arrays that consumers released (Chunk.release), for the next chunks of their size */
  private readonly spare: ArrayBuffer[] = [];
  /** the sender's shared segment, once mapped */
  segment: IncomingSegment | undefined;
  /** frames read, HELLO included */
  frames = 0;

  constructor(private readonly handler: FrameHandler) {}

  /** Reads no further frames (the connection is being closed). */
  stop(): void {
    this.stopped = true;
  }

  /** Consumes one read, data[0, length); calls the handler for every frame it completes. */
  push(data: Buffer, length = data.length): void {
    let at = 0;
    while (at < length && !this.stopped) {
      if (this.bytes) {
        const n = Math.min(length - at, this.bytes.length - this.filled);
        this.bytes.set(data.subarray(at, at + n), this.filled);
        this.filled += n;
        at += n;
        if (this.filled === this.bytes.length) this.finishChunk();
        continue;
      }
      const n = Math.min(length - at, this.need - this.have);
      data.copy(this.head, this.have, at, at + n);
      this.have += n;
      at += n;
      if (this.have < this.need) continue;
      if (this.need === PREFIX_BYTES) {
        const fixed = FIXED_BYTES[this.head.readUInt8(0)];
        if (fixed === undefined) throw new ProtocolError(`unknown frame kind ${this.head.readUInt8(0)}`);
        this.need = PREFIX_BYTES + fixed + this.head.readUInt16LE(2);
        if (this.have < this.need) continue;
      }
      this.dispatch();
      this.have = 0;
      this.need = PREFIX_BYTES;
    }
  }

  private dispatch(): void {
    const h = this.head;
    const kind = h.readUInt8(0);
    const name = KIND_NAMES[kind] as keyof FrameHandler;
    if (!this.handler[name]) throw new ProtocolError(`unexpected ${name} frame`);
    this.frames++;
    const fixed = FIXED_BYTES[kind] as number;
    const text = () => h.toString('utf8', PREFIX_BYTES + fixed, this.need);
    const at = PREFIX_BYTES;
    if (kind === Kind.chunk) this.startChunk(fixed);
    else if (kind === Kind.shmChunk) this.sharedChunk(fixed);
    else if (kind === Kind.hello) {
      if (h.readUInt32LE(at) !== MAGIC) throw new ProtocolError('not a Permafrost data connection (bad magic)');
      const version = h.readUInt16LE(at + 4);
      if (version !== VERSION) throw new ProtocolError(`protocol version ${version}, this worker speaks ${VERSION}`);
      this.handler.hello?.({
        generation: h.readBigUInt64LE(at + 8),
        from: h.readUInt32LE(at + 16),
        to: h.readUInt32LE(at + 20),
        workerId: text(),
      });
    } else if (kind === Kind.abort || kind === Kind.refuse) this.handler.stop?.(kind, h.readUInt32LE(at), text());
    else if (kind === Kind.accept) this.handler.accept?.(text());
    else if (kind === Kind.mapped) this.handler.mapped?.(h.readUInt32LE(at) === 1 ? undefined : text());
    else if (kind === Kind.credit) this.handler.credit?.(h.readUInt32LE(at));
    else this.handler.reject?.(text());
  }

  /** CHUNK and SHM_CHUNK fields, the signature, and `data` */
  private chunkOf(fixed: number, data: Float32Array): Chunk {
    const h = this.head;
    return {
      sequence: h.readUInt32LE(PREFIX_BYTES),
      step: h.readUInt32LE(PREFIX_BYTES + 4),
      segment: h.readUInt32LE(PREFIX_BYTES + 8),
      offset: h.readUInt32LE(PREFIX_BYTES + 12),
      totalElements: h.readUInt32LE(PREFIX_BYTES + 16),
      signature: this.signatureOf(PREFIX_BYTES + fixed, this.need),
      data,
    };
  }

  private count(): number {
    const count = this.head.readUInt32LE(PREFIX_BYTES + 20);
    if (count > MAX_CHUNK_ELEMENTS) throw new ProtocolError(`a chunk of ${count} elements is more than ${MAX_CHUNK_ELEMENTS}`);
    return count;
  }

  private sharedChunk(fixed: number): void {
    if (!this.segment) throw new ProtocolError('a SHM_CHUNK on a connection without a shared segment');
    const count = this.count();
    const position = this.head.readUInt32LE(PREFIX_BYTES + 24);
    let data: Float32Array;
    try {
      data = this.segment.view(position, count);
    } catch (e) {
      throw new ProtocolError((e as Error).message);
    }
    this.handler.chunk?.(this.chunkOf(fixed, data), position);
  }

  private startChunk(fixed: number): void {
    const count = this.count();
    const data = count === 0 ? new Float32Array(0) : new Float32Array(this.values(count * 4), 0, count);
    this.chunk = this.chunkOf(fixed, data);
    if (count > 0) this.chunk.release = this.giveBack(data.buffer as ArrayBuffer);
    this.bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.filled = 0;
    if (count === 0) this.finishChunk();
  }

  /**
   * An ArrayBuffer of `bytes` for a chunk's values: a released one of that size, else a new one
   * (allocUnsafeSlow: its own, so aligned, and not zero-filled). Reusing them spares a chunk's
   * worth of fresh pages (page faults) and of ArrayBuffer turnover (garbage collection) per chunk.
   */
  private values(bytes: number): ArrayBuffer {
    const i = this.spare.findIndex((b) => b.byteLength === bytes);
    if (i >= 0) return this.spare.splice(i, 1)[0] as ArrayBuffer;
    return Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
  }

  /** Chunk.release of values in `buffer`: it goes back for reuse, once; a few are kept */
  private giveBack(buffer: ArrayBuffer): () => void {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      if (this.spare.length < SPARE_BUFFERS) this.spare.push(buffer);
    };
  }

  private finishChunk(): void {
    const c = this.chunk as Chunk;
    this.chunk = undefined;
    this.bytes = undefined;
    if (!LITTLE_ENDIAN) {
      const view = new DataView(c.data.buffer, c.data.byteOffset, c.data.byteLength);
      for (let i = 0; i < c.data.length; i++) c.data[i] = view.getFloat32(i * 4, true);
    }
    this.handler.chunk?.(c);
  }

  /** the signature in head[from, to), the previous string while the bytes are the same */
  private signatureOf(from: number, to: number): string {
    const length = to - from;
    if (length !== this.signatureLength || this.head.compare(this.signatureBytes, 0, length, from, to) !== 0) {
      this.head.copy(this.signatureBytes, 0, from, to);
      this.signatureLength = length;
      this.signature = this.head.toString('utf8', from, to);
    }
    return this.signature;
  }
}

/**
 * Chunk <-> the bytes of an ExchangeRequest, with one copy of the payload on each side at most.
 *
 * The wire carries float32 values little-endian. Sending: the fields but `data` are encoded first
 * (ChunkEncoder), then `alignment` and `data` are appended by hand, the values copied once from
 * the caller's Float32Array (which may be a view into a larger buffer) straight into the message.
 * Fields may come in any order on the wire, so the bytes are a valid ExchangeRequest that any
 * protobuf decoder reads back unchanged.
 *
 * Receiving: protobuf-es returns `data` as a view into the received message, and a Float32Array
 * view needs 4-byte alignment. gRPC prefixes every message with 5 bytes (compressed flag and
 * length), and grpc-js hands the message over in a buffer of its own that starts 8-byte aligned,
 * so the sender pads `alignment` until `data` starts at a multiple of 4 counted from the prefix:
 * the receiver then reads the floats in place. Where that does not hold (another gRPC
 * implementation, a big-endian host), decoding falls back to one copy.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { type Chunk, CollectiveError } from '@permafrost/collective';
import { type ExchangeRequest, ExchangeRequestSchema } from '@permafrost/proto';

/** tags of ExchangeRequest.data (field 8) and .alignment (field 10), wire type 2 (length-delimited) */
const DATA_TAG = (8 << 3) | 2;
const ALIGNMENT_TAG = (10 << 3) | 2;
/** the length prefix gRPC puts before every message */
const GRPC_PREFIX_BYTES = 5;
const NO_BYTES = new Uint8Array(0);

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function toWireBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] as number, true);
  return out;
}

function fromWireBytes(bytes: Uint8Array): Float32Array {
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  // allocUnsafeSlow: an ArrayBuffer of its own (offset 0, so aligned) that is not zero-filled first
  const out = new Float32Array(Buffer.allocUnsafeSlow(bytes.byteLength).buffer, 0, bytes.byteLength / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

const varintBytes = (v: number) => {
  let n = 1;
  for (; v > 0x7f; v >>>= 7) n++;
  return n;
};

function writeVarint(out: Uint8Array, at: number, v: number): number {
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** A varint field, left out when zero as proto3 does. */
function writeField(out: Uint8Array, at: number, tag: number, v: number): number {
  if (v === 0) return at;
  out[at] = tag;
  return writeVarint(out, at + 1, v);
}

/**
 * `head` and `more` (fields other than data and alignment) followed by the alignment padding and
 * `data`. The padding field costs 2 bytes plus its zeros, so 0, 2, 3 or 5 bytes reach any
 * residue mod 4.
 */
function withPayload(
  head: Uint8Array,
  data: Uint8Array,
  more: Uint8Array = NO_BYTES,
  alloc: (bytes: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const fields = head.byteLength + more.byteLength;
  const dataHeader = data.byteLength === 0 ? 0 : 1 + varintBytes(data.byteLength);
  const misaligned = (GRPC_PREFIX_BYTES + fields + dataHeader) % 4;
  const pad = data.byteLength === 0 ? 0 : ([0, 3, 2, 5][misaligned] as number);
  const out = alloc(fields + pad + dataHeader + data.byteLength);
  out.set(head, 0);
  out.set(more, head.byteLength);
  let at = fields;
  if (data.byteLength === 0) return out;
  if (pad > 0) {
    out[at++] = ALIGNMENT_TAG;
    out[at++] = pad - 2;
    out.fill(0, at, at + pad - 2);
    at += pad - 2;
  }
  out[at++] = DATA_TAG;
  at = writeVarint(out, at, data.byteLength);
  out.set(data, at);
  return out;
}

/** tags of the varint fields step (5), segment (6) and offset (7) */
const STEP_TAG = 5 << 3;
const SEGMENT_TAG = 6 << 3;
const OFFSET_TAG = 7 << 3;

/**
 * Encodes the chunks one rank sends, as ExchangeRequests. The fields that stay the same for a
 * whole collective (membership, rank, sequence, signature, size) are encoded once by protobuf-es;
 * per chunk only step, segment and offset are written by hand, then the payload: protobuf-es's
 * per-message cost would otherwise be as large as copying the values of a 64 KiB chunk.
 */
export class ChunkEncoder {
  private head = new Uint8Array(0);
  private headOf: { sequence: number; signature: string; totalElements: number } | undefined;

  constructor(
    private readonly fromRank: number,
    private readonly generation: bigint,
  ) {}

  /**
   * The bytes of the ExchangeRequest that carries `c`, in a buffer of `alloc`'s (size in bytes);
   * `c.data` is copied, so the caller may reuse it.
   */
  encode(c: Chunk, alloc: (bytes: number) => Buffer = Buffer.allocUnsafe): Buffer {
    const h = this.headOf;
    if (!h || h.sequence !== c.sequence || h.signature !== c.signature || h.totalElements !== c.totalElements) {
      this.head = toBinary(
        ExchangeRequestSchema,
        create(ExchangeRequestSchema, {
          membership: { generation: this.generation },
          fromRank: this.fromRank,
          sequence: BigInt(c.sequence),
          signature: c.signature,
          totalElements: BigInt(c.totalElements),
        }),
      );
      this.headOf = { sequence: c.sequence, signature: c.signature, totalElements: c.totalElements };
    }
    const fields = new Uint8Array(3 * 6);
    let at = writeField(fields, 0, STEP_TAG, c.step);
    at = writeField(fields, at, SEGMENT_TAG, c.segment);
    at = writeField(fields, at, OFFSET_TAG, c.offset);
    return withPayload(this.head, toWireBytes(c.data), fields.subarray(0, at), alloc);
  }
}

/** Any ExchangeRequest to its bytes, laid out as encodeChunk lays them out. */
export function serializeExchange(m: ExchangeRequest): Buffer {
  return withPayload(toBinary(ExchangeRequestSchema, { ...m, data: NO_BYTES, alignment: NO_BYTES }), m.data);
}

/** The chunk a received ExchangeRequest carries; its data aliases the message's bytes where aligned. */
export function decodeChunk(r: ExchangeRequest): Chunk {
  if (r.data.byteLength % 4 !== 0) {
    throw new CollectiveError(`rank ${r.fromRank} sent ${r.data.byteLength} bytes of float32 data, not a multiple of 4`);
  }
  return {
    sequence: Number(r.sequence),
    signature: r.signature,
    step: r.step,
    segment: r.segment,
    offset: r.offset,
    totalElements: Number(r.totalElements),
    data: fromWireBytes(r.data),
  };
}

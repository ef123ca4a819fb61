/**
 * Chunk <-> ExchangeRequest. The wire carries float32 values little-endian. On the usual
 * little-endian hosts a chunk goes out as a byte view of its Float32Array (serializeExchange
 * then copies it once into the encoded message) and comes in with exactly one copy, into a
 * fresh Float32Array: the received bytes sit at an arbitrary offset inside grpc-js's message
 * buffer, and a Float32Array view needs 4-byte alignment. A big-endian host swaps bytes in both
 * directions, which costs one more pass but keeps the wire format fixed.
 *
 * Encoding: protobuf-es writes into a buffer it grows by doubling and then slices, which for a
 * MiB of payload means a zero-filled 2 MiB allocation and two copies. serializeExchange encodes
 * every field but `data` with protobuf-es and appends `data` itself, one allocation and one
 * copy. Fields may come in any order on the wire, so the bytes are a valid ExchangeRequest that
 * any protobuf decoder (fromBinary on the receiving side) reads back unchanged.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { type Chunk, CollectiveError } from '@permafrost/collective';
import { type ExchangeRequest, ExchangeRequestSchema } from '@permafrost/proto';

/** tag of ExchangeRequest.data: field 8, wire type 2 (length-delimited) */
const DATA_TAG = (8 << 3) | 2;
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

export function encodeChunk(c: Chunk, fromRank: number, generation: bigint): ExchangeRequest {
  return create(ExchangeRequestSchema, {
    membership: { generation },
    fromRank,
    sequence: BigInt(c.sequence),
    signature: c.signature,
    step: c.step,
    segment: c.segment,
    offset: c.offset,
    totalElements: BigInt(c.totalElements),
    data: toWireBytes(c.data),
  });
}

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

/** ExchangeRequest to its protobuf encoding, with the payload copied once (see above). */
export function serializeExchange(m: ExchangeRequest): Buffer {
  const head = toBinary(ExchangeRequestSchema, { ...m, data: NO_BYTES });
  const data = m.data;
  // proto3 leaves an empty bytes field out altogether
  if (data.byteLength === 0) return Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  let lengthBytes = 1;
  for (let v = data.byteLength; v > 0x7f; v >>>= 7) lengthBytes++;
  const out = Buffer.allocUnsafe(head.byteLength + 1 + lengthBytes + data.byteLength);
  out.set(head, 0);
  let at = head.byteLength;
  out[at++] = DATA_TAG;
  let v = data.byteLength;
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  out.set(data, at);
  return out;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { type Chunk, CollectiveError } from '@permafrost/collective';
import { ExchangeRequestSchema } from '@permafrost/proto';
import { ChunkEncoder, decodeChunk, serializeExchange } from './chunk-codec';

const chunk = (data: Float32Array): Chunk => ({
  sequence: 12,
  signature: 'abc',
  step: 3,
  segment: 2,
  offset: 4096,
  totalElements: 1_000_003,
  data,
});

/** `wire` as grpc-js hands it to a deserializer: after the 5-byte prefix, in an 8-byte aligned buffer */
function received(wire: Uint8Array, shift = 5): Uint8Array {
  const framed = new Uint8Array(wire.byteLength + shift);
  framed.set(wire, shift);
  return framed.subarray(shift);
}

describe('chunk codec', () => {
  for (const elements of [0, 1, 31, 32, 4096, 300_000]) {
    it(`round-trips ${elements} elements through ChunkEncoder and fromBinary, reading them in place`, () => {
      const data = Float32Array.from({ length: elements }, (_, i) => i * 0.5 - 7);
      const wire = new ChunkEncoder(1, 9n).encode(chunk(data));
      const decoded = fromBinary(ExchangeRequestSchema, received(wire));
      // the message protobuf-es itself would encode, fields in another order, plus the padding
      assert.equal(wire.byteLength, toBinary(ExchangeRequestSchema, decoded).byteLength);
      assert.equal(decoded.membership?.generation, 9n);
      assert.equal(decoded.fromRank, 1);
      const back = decodeChunk(decoded);
      assert.deepEqual({ ...back, data: Array.from(back.data) }, { ...chunk(data), data: Array.from(data) });
      if (elements > 0) assert.equal(back.data.buffer, decoded.data.buffer, 'the values are read where they arrived');
    });
  }

  it('encodes every step, segment and offset of a collective, zeros included', () => {
    const encoder = new ChunkEncoder(0, 1n);
    for (const [step, segment, offset] of [
      [0, 0, 0],
      [1, 0, 300],
      [0, 2, 0],
      [5, 1, 1 << 22],
    ] as const) {
      const c = { ...chunk(Float32Array.of(step, offset)), step, segment, offset };
      const back = decodeChunk(fromBinary(ExchangeRequestSchema, received(encoder.encode(c))));
      assert.deepEqual([back.step, back.segment, back.offset, Array.from(back.data)], [step, segment, offset, [step, offset]]);
    }
  });

  it('copies the values of a view when it encodes, and copies them out when they arrive misaligned', () => {
    const buffer = new Float32Array(16).fill(3);
    const wire = new ChunkEncoder(0, 1n).encode(chunk(buffer.subarray(4, 8)));
    buffer.fill(0);
    const c = decodeChunk(fromBinary(ExchangeRequestSchema, received(wire, 6)));
    assert.deepEqual(Array.from(c.data), [3, 3, 3, 3]);
    assert.equal(c.data.byteOffset, 0);
  });

  it('serializes any ExchangeRequest with its payload aligned', () => {
    const req = create(ExchangeRequestSchema, {
      fromRank: 3,
      sequence: 7n,
      signature: 'x',
      data: new Uint8Array(Float32Array.of(1, 2).buffer),
    });
    const decoded = fromBinary(ExchangeRequestSchema, received(serializeExchange(req)));
    assert.deepEqual(Array.from(decodeChunk(decoded).data), [1, 2]);
    assert.equal(decoded.data.byteOffset % 4, 0);
  });

  it('rejects payloads that are not whole float32 values', () => {
    const req = create(ExchangeRequestSchema, { fromRank: 2, data: new Uint8Array(6) });
    assert.throws(
      () => decodeChunk(req),
      (e) => e instanceof CollectiveError && /6 bytes/.test(e.message),
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { type Chunk, CollectiveError } from '@permafrost/collective';
import { ExchangeRequestSchema } from '@permafrost/proto';
import { decodeChunk, encodeChunk, serializeExchange } from './chunk-codec';

const chunk = (data: Float32Array): Chunk => ({
  sequence: 12,
  signature: 'abc',
  step: 3,
  segment: 2,
  offset: 4096,
  totalElements: 1_000_003,
  data,
});

describe('chunk codec', () => {
  for (const elements of [0, 1, 31, 32, 4096, 300_000]) {
    it(`round-trips ${elements} elements through serializeExchange and fromBinary`, () => {
      const data = Float32Array.from({ length: elements }, (_, i) => i * 0.5 - 7);
      const req = encodeChunk(chunk(data), 1, 9n);
      const wire = serializeExchange(req);
      // the same message protobuf-es itself would encode (fields in another order)
      assert.equal(wire.byteLength, toBinary(ExchangeRequestSchema, req).byteLength);
      const back = decodeChunk(fromBinary(ExchangeRequestSchema, wire));
      assert.deepEqual({ ...back, data: Array.from(back.data) }, { ...chunk(data), data: Array.from(data) });
      const decoded = fromBinary(ExchangeRequestSchema, wire);
      assert.equal(decoded.membership?.generation, 9n);
      assert.equal(decoded.fromRank, 1);
    });
  }

  it('sends a view of the chunk, not a copy, and receives into an aligned copy', () => {
    const buffer = new Float32Array(16).fill(3);
    const view = buffer.subarray(4, 8);
    const req = encodeChunk(chunk(view), 0, 1n);
    assert.equal(req.data.buffer, buffer.buffer);
    assert.equal(req.data.byteOffset, 16);
    // decode from a buffer whose payload sits at an odd offset
    const wire = serializeExchange(req);
    const shifted = new Uint8Array(wire.byteLength + 1);
    shifted.set(wire, 1);
    const c = decodeChunk(fromBinary(ExchangeRequestSchema, shifted.subarray(1)));
    assert.deepEqual(Array.from(c.data), [3, 3, 3, 3]);
    assert.equal(c.data.byteOffset, 0);
    assert.notEqual(c.data.buffer, shifted.buffer);
  });

  it('rejects payloads that are not whole float32 values', () => {
    const req = create(ExchangeRequestSchema, { fromRank: 2, data: new Uint8Array(6) });
    assert.throws(
      () => decodeChunk(req),
      (e) => e instanceof CollectiveError && /6 bytes/.test(e.message),
    );
  });
});

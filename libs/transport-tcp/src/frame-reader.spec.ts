import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Chunk } from '@permafrost/collective';
import { FrameReader, ProtocolError } from './frame-reader';
import { CHUNK_HEAD_BYTES, encodeHello, encodeStop, Kind, payloadBytes, writeChunkHead } from './protocol';

function chunkFrame(c: Chunk): Buffer {
  const signature = Buffer.from(c.signature);
  const head = Buffer.alloc(CHUNK_HEAD_BYTES + signature.length);
  writeChunkHead(head, 0, c, signature);
  return Buffer.concat([head, payloadBytes(c.data)]);
}

const c = (sequence: number, n: number, signature = 'sig'): Chunk => ({
  sequence,
  signature,
  step: 2,
  segment: 1,
  offset: 7,
  totalElements: 1000,
  data: Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3),
});

describe('frame reader', () => {
  it('reads frames cut at every byte, and frames run together', () => {
    const hello = { generation: 2n ** 40n + 3n, from: 1, to: 2, workerId: 'host:/cache é' };
    const frames = [
      encodeHello(hello),
      chunkFrame(c(9, 5)),
      chunkFrame(c(9, 0)),
      chunkFrame(c(10, 3, 'other')),
      encodeStop(Kind.abort, 10, 'gave up'),
    ];
    const wire = Buffer.concat(frames);
    for (const cut of [1, 3, 7, 64, wire.length]) {
      const got: unknown[] = [];
      const r = new FrameReader({
        hello: (h) => got.push(h),
        chunk: ({ release: _, ...x }) => got.push({ ...x, data: Array.from(x.data) }),
        stop: (kind, sequence, reason) => got.push({ kind, sequence, reason }),
      });
      for (let at = 0; at < wire.length; at += cut) r.push(wire.subarray(at, at + cut));
      assert.deepEqual(got, [
        hello,
        { ...c(9, 5), data: Array.from(c(9, 5).data) },
        { ...c(9, 0), data: [] },
        { ...c(10, 3, 'other'), data: Array.from(c(10, 3).data) },
        { kind: Kind.abort, sequence: 10, reason: 'gave up' },
      ]);
    }
  });

  it('hands over aligned arrays of their own', () => {
    let got: Chunk | undefined;
    new FrameReader({ chunk: (x) => (got = x) }).push(chunkFrame(c(1, 4)));
    assert.equal(got?.data.byteOffset, 0);
    assert.equal(got?.data.buffer.byteLength, 16);
  });

  it('reuses a released array for a later chunk of its size, never one still held', () => {
    const got: Chunk[] = [];
    const reader = new FrameReader({ chunk: (x) => got.push(x) });
    reader.push(Buffer.concat([chunkFrame(c(1, 4)), chunkFrame(c(2, 4))]));
    const [a, b] = got as [Chunk, Chunk];
    assert.notEqual(a.data.buffer, b.data.buffer, 'both held: two arrays');
    a.release?.();
    a.release?.();
    reader.push(Buffer.concat([chunkFrame(c(3, 4)), chunkFrame(c(4, 2)), chunkFrame(c(5, 4))]));
    const [, , third, small, fifth] = got as [Chunk, Chunk, Chunk, Chunk, Chunk];
    assert.equal(third.data.buffer, a.data.buffer, 'the released array, once');
    assert.deepEqual(Array.from(third.data), Array.from(c(3, 4).data));
    assert.notEqual(small.data.buffer, a.data.buffer, 'another size: a new array');
    assert.notEqual(fifth.data.buffer, a.data.buffer, 'released once, reused once');
    assert.notEqual(fifth.data.buffer, b.data.buffer, 'b is still held');
  });

  it('refuses frames the side does not expect, unknown kinds and a bad magic', () => {
    assert.throws(() => new FrameReader({ chunk: () => undefined }).push(encodeStop(Kind.refuse, 1, 'x')), /unexpected stop frame/);
    assert.throws(() => new FrameReader({ chunk: () => undefined }).push(Buffer.from([99, 0, 0, 0])), ProtocolError);
    const bad = encodeHello({ generation: 1n, from: 0, to: 1, workerId: 'w' });
    bad.writeUInt32LE(0x12345678, 4);
    assert.throws(() => new FrameReader({ hello: () => undefined }).push(bad), /bad magic/);
  });
});

/**
 * The data-plane wire protocol: allreduce chunks over plain TCP, one connection per (sending rank,
 * receiving rank) pair of a membership, kept for collective after collective. The RECEIVER opens
 * it: it dials the sender's data server, so that it reads into one reused buffer (Node's `onread`
 * exists only for sockets a process dials). gRPC (the coordinator) is the control plane; these
 * are only the bulk bytes.
 *
 * Every frame is a 4-byte prefix, fields whose size the frame's kind fixes, a UTF-8 text of the
 * prefix's length, and (chunks only) a payload. Integers are little-endian.
 *
 *   prefix     u8 kind, u8 reserved (0), u16 text bytes
 *
 *   receiver (dialing) -> sender (accepting)
 *   HELLO  1   u32 magic "PFDP", u16 version, u16 reserved, u64 generation, u32 from rank (the
 *              sender, whose data the receiver asks for), u32 to rank (the receiver itself);
 *              text: the receiver's worker id. The first frame, and only there.
 *   MAPPED 20  u32 mapped (1 or 0); text: why not, when 0. The answer to an ACCEPT that offered
 *              a shared segment, right after it: 1 when the receiver mapped it (same host), and
 *              SHM_CHUNK frames may follow. The sender holds its chunks until the answer.
 *   CREDIT 21  u32 position: the receiver is done with the SHM_CHUNK at that position of the
 *              segment; the sender may reuse it.
 *   REFUSE 19  u32 sequence; text: why the receiver will not take collective `sequence` (it gave
 *              up on it, or has moved past it), or any collective when sequence is 0xffffffff
 *              (it left the membership). The receiver closes after it, and the sender fails
 *              that collective at once: a failure travels back around the ring hop by hop, as
 *              fast as it would over gRPC. The receiver dials again for the next collective.
 *
 *   sender (accepting) -> receiver (dialing)
 *   ACCEPT 17  text: empty, or the offer of a shared-memory segment (shared-segment.ts: boot id,
 *              pid, fd, bytes, token); the handshake passed, chunks follow.
 *   REJECT 18  text: why the handshake failed (another generation, or the one text for a
 *              claim that does not hold). The sender closes after it.
 *   CHUNK  2   u32 sequence, u32 step, u32 segment, u32 offset, u32 total elements,
 *              u32 element count; text: the tensor-set signature; then count float32 values.
 *   SHM_CHUNK 4  CHUNK's fields, then u32 position; text: the signature. The values are in the
 *              shared segment at `position`, not on the wire (only after MAPPED).
 *   ABORT  3   u32 sequence; text: why. The sender gave up collective `sequence` (a local
 *              failure) and closes the connection after this frame.
 *
 * The sender checks the HELLO against its current membership: first the claim, the to rank
 * another rank of the ring and the worker id the one the membership gives that rank (under TLS
 * also the name on the certificate the connection presented, the one the coordinator announced
 * for that worker); a claim that does not hold gets one REJECT text whatever the mismatch, which
 * names no worker or rank, and changes nothing on the sender. Then the generation is its own and
 * the from rank itself. A HELLO of a generation the sender has not reached yet waits,
 * unanswered, until it does (or the receiver's connect timeout ends the wait). A REJECT changes
 * nothing on the sender: the receiver learns why, and a member of an older generation dials
 * again once it has entered the sender's (sends to it wait, up to their deadline). A chunk of a
 * collective earlier than the one the connection carries is a protocol error. A connection that closes without ABORT or REFUSE takes the
 * collective in flight on it with it (a dead peer), and any frame that breaks these rules
 * closes the connection with a clear error.
 */

import type { Chunk } from '@permafrost/collective';

export const MAGIC = 0x50444650; // "PFDP" read as a little-endian u32
export const VERSION = 3;
/** REFUSE's sequence for every collective: the receiver left the membership */
export const EVERY = 0xffffffff;

export const Kind = {
  hello: 1,
  chunk: 2,
  abort: 3,
  shmChunk: 4,
  accept: 17,
  reject: 18,
  refuse: 19,
  mapped: 20,
  credit: 21,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export const PREFIX_BYTES = 4;
/** bytes of each kind's fixed fields, after the prefix */
export const FIXED_BYTES: Readonly<Record<number, number>> = {
  [Kind.hello]: 24,
  [Kind.chunk]: 24,
  [Kind.abort]: 4,
  [Kind.shmChunk]: 28,
  [Kind.accept]: 0,
  [Kind.reject]: 0,
  [Kind.refuse]: 4,
  [Kind.mapped]: 4,
  [Kind.credit]: 4,
};
export const MAX_TEXT_BYTES = 0xffff;
/** the largest head (prefix, fixed fields, text) of any frame */
export const MAX_HEAD_BYTES = PREFIX_BYTES + 28 + MAX_TEXT_BYTES;
/** a larger chunk is refused as garbage (256 MiB of float32) */
export const MAX_CHUNK_ELEMENTS = 64 * 1024 * 1024;

export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export interface Hello {
  generation: bigint;
  from: number;
  to: number;
  workerId: string;
}

/** UTF-8 bytes of `text`, cut to what a frame can carry */
function textBytes(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  return b.length <= MAX_TEXT_BYTES ? b : b.subarray(0, MAX_TEXT_BYTES);
}

function frame(kind: Kind, fixed: number, text: string, fill: (b: Buffer, at: number) => void): Buffer {
  const t = textBytes(text);
  const b = Buffer.allocUnsafe(PREFIX_BYTES + fixed + t.length);
  b.writeUInt8(kind, 0);
  b.writeUInt8(0, 1);
  b.writeUInt16LE(t.length, 2);
  fill(b, PREFIX_BYTES);
  t.copy(b, PREFIX_BYTES + fixed);
  return b;
}

export function encodeHello(h: Hello): Buffer {
  return frame(Kind.hello, 24, h.workerId, (b, at) => {
    b.writeUInt32LE(MAGIC, at);
    b.writeUInt16LE(VERSION, at + 4);
    b.writeUInt16LE(0, at + 6);
    b.writeBigUInt64LE(h.generation, at + 8);
    b.writeUInt32LE(h.from, at + 16);
    b.writeUInt32LE(h.to, at + 20);
  });
}

/** ABORT or REFUSE of collective `sequence` */
export function encodeStop(kind: typeof Kind.abort | typeof Kind.refuse, sequence: number, reason: string): Buffer {
  return frame(kind, 4, reason, (b, at) => b.writeUInt32LE(sequence, at));
}

/** ACCEPT, with the shared segment's offer or '' */
export function encodeAccept(offer = ''): Buffer {
  return frame(Kind.accept, 0, offer, () => undefined);
}

/** the answer to a shared segment's offer: `why` it was not mapped, undefined when it was */
export function encodeMapped(why?: string): Buffer {
  return frame(Kind.mapped, 4, why ?? '', (b, at) => b.writeUInt32LE(why === undefined ? 1 : 0, at));
}

export function encodeCredit(position: number): Buffer {
  return frame(Kind.credit, 4, '', (b, at) => b.writeUInt32LE(position, at));
}

export function encodeReject(reason: string): Buffer {
  return frame(Kind.reject, 0, reason, () => undefined);
}

/** A u32 field's value, checked: the protocol carries sequence numbers, offsets and counts as u32. */
export function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what} ${v} does not fit the wire's u32`);
  return v;
}

/** CHUNK's head minus its signature text */
export const CHUNK_HEAD_BYTES = PREFIX_BYTES + 24;

/** SHM_CHUNK's head minus its signature text */
export const SHM_CHUNK_HEAD_BYTES = PREFIX_BYTES + 28;

/**
 * Writes a CHUNK's head (prefix, fields, `signature`) at `at` of `b`, or a SHM_CHUNK's when the
 * values are at `position` of the shared segment; returns the bytes written.
 */
export function writeChunkHead(b: Buffer, at: number, c: Omit<Chunk, 'signature'>, signature: Buffer, position?: number): number {
  b.writeUInt8(position === undefined ? Kind.chunk : Kind.shmChunk, at);
  b.writeUInt8(0, at + 1);
  b.writeUInt16LE(signature.length, at + 2);
  b.writeUInt32LE(u32(c.sequence, 'sequence'), at + 4);
  b.writeUInt32LE(u32(c.step, 'step'), at + 8);
  b.writeUInt32LE(u32(c.segment, 'segment'), at + 12);
  b.writeUInt32LE(u32(c.offset, 'offset'), at + 16);
  b.writeUInt32LE(u32(c.totalElements, 'total elements'), at + 20);
  b.writeUInt32LE(u32(c.data.length, 'element count'), at + 24);
  if (position === undefined) {
    signature.copy(b, at + CHUNK_HEAD_BYTES);
    return CHUNK_HEAD_BYTES + signature.length;
  }
  b.writeUInt32LE(u32(position, 'position'), at + 28);
  signature.copy(b, at + SHM_CHUNK_HEAD_BYTES);
  return SHM_CHUNK_HEAD_BYTES + signature.length;
}

/** The float32 values as wire bytes: a view (no copy) on little-endian hosts. */
export function payloadBytes(data: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.allocUnsafe(data.byteLength);
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i] as number, i * 4);
  return out;
}

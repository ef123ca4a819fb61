/**
 * The stored form of one activation. An 8-byte header, then the payload:
 *
 *   byte 0     format version (1)
 *   byte 1     codec: 0 = float32 (exact), 1 = float16 (half the bytes)
 *   bytes 2-3  reserved, zero
 *   bytes 4-7  checksum32 of the payload, little-endian
 *   bytes 8-   payload: the values, little-endian, in the activation's row-major order
 *
 * The element count comes from the fingerprint's shape, so a value of the wrong length is as
 * corrupt as one with a bad checksum. Decoding never hands out bad data: it reports 'corrupt'.
 */
import { checksum32 } from './checksum';
import { decodeHalf, encodeHalf } from './half';

export type Codec = 'float32' | 'float16';
const CODEC_IDS: Record<Codec, number> = { float32: 0, float16: 1 };
const HEADER = 8;
const VERSION = 1;

export function encodedBytes(codec: Codec, elements: number): number {
  return HEADER + elements * (codec === 'float32' ? 4 : 2);
}

export function encodeValue(values: Float32Array, codec: Codec): Uint8Array {
  const out = new Uint8Array(encodedBytes(codec, values.length));
  out[0] = VERSION;
  out[1] = CODEC_IDS[codec];
  let sum: number;
  if (codec === 'float32') {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), HEADER);
    sum = checksum32(new Uint32Array(values.buffer, values.byteOffset, values.length));
  } else {
    const half = new Uint16Array(values.length);
    encodeHalf(values, half);
    out.set(new Uint8Array(half.buffer), HEADER);
    sum = halfChecksum(half);
  }
  new DataView(out.buffer).setUint32(4, sum, true);
  return out;
}

function halfChecksum(half: Uint16Array): number {
  const words = new Uint32Array(half.buffer, half.byteOffset, half.length >>> 1);
  return checksum32(words, half.length & 1 ? (half[half.length - 1] as number) : 0);
}

let scratch = new Uint16Array(0);

/**
 * Decodes `bytes` into `dst[offset .. offset + elements)`. Returns false (and leaves garbage in
 * that range, which the caller overwrites) when the value is corrupt.
 */
export function decodeValue(bytes: Uint8Array, dst: Float32Array, offset: number, elements: number): boolean {
  if (bytes.length < HEADER || bytes[0] !== VERSION) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const expected = view.getUint32(4, true);
  const payload = bytes.subarray(HEADER);
  if (bytes[1] === CODEC_IDS.float32) {
    if (payload.length !== elements * 4) return false;
    new Uint8Array(dst.buffer, dst.byteOffset + offset * 4, elements * 4).set(payload);
    return checksum32(new Uint32Array(dst.buffer, dst.byteOffset + offset * 4, elements)) === expected;
  }
  if (bytes[1] === CODEC_IDS.float16) {
    if (payload.length !== elements * 2) return false;
    if (scratch.length < elements + 1) scratch = new Uint16Array(elements + 1);
    const half = scratch.subarray(0, elements);
    new Uint8Array(half.buffer, 0, elements * 2).set(payload);
    if (halfChecksum(half) !== expected) return false;
    decodeHalf(half, dst, offset);
    return true;
  }
  return false;
}

export interface ValueCheck {
  /** the codec named in the header, when it names one */
  codec: Codec | undefined;
  /** header, length and checksum all correct */
  ok: boolean;
  /** what is wrong, when not ok */
  problem?: string;
  /** the values as stored, decoded even when the checksum fails (absent when undecodable) */
  values?: Float32Array;
}

/**
 * Decodes a value for inspection (`cache show`): unlike decodeValue it says what is wrong and
 * still hands out the values of a value whose only fault is its checksum, so a person can look
 * at a corrupt entry. Training never uses this.
 */
export function inspectValue(bytes: Uint8Array, elements: number): ValueCheck {
  if (bytes.length < HEADER) return { codec: undefined, ok: false, problem: `${bytes.length} bytes, shorter than the header` };
  if (bytes[0] !== VERSION) return { codec: undefined, ok: false, problem: `unknown format version ${bytes[0]}` };
  const codec = (Object.keys(CODEC_IDS) as Codec[]).find((c) => CODEC_IDS[c] === bytes[1]);
  if (codec === undefined) return { codec, ok: false, problem: `unknown codec ${bytes[1]}` };
  const want = encodedBytes(codec, elements);
  if (bytes.length !== want) return { codec, ok: false, problem: `${bytes.length} bytes, expected ${want}` };
  const expected = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(4, true);
  // a copy: Buffer#slice is a view, and the typed arrays below need an aligned buffer of their own
  const payload = new Uint8Array(bytes.length - HEADER);
  payload.set(bytes.subarray(HEADER));
  const values = new Float32Array(elements);
  let sum: number;
  if (codec === 'float32') {
    values.set(new Float32Array(payload.buffer, 0, elements));
    sum = checksum32(new Uint32Array(payload.buffer, 0, elements));
  } else {
    const half = new Uint16Array(payload.buffer, 0, elements);
    decodeHalf(half, values, 0);
    sum = halfChecksum(half);
  }
  if (sum !== expected) return { codec, ok: false, problem: 'checksum mismatch', values };
  return { codec, ok: true, values };
}

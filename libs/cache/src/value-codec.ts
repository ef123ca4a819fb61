/**
 * The stored form of one activation. An 8-byte header, then the payload:
 *
 *   byte 0     format version (2)
 *   byte 1     codec: 0 = float32 (exact), 1 = float16 (half the bytes)
 *   bytes 2-3  payload check: the payload-only checksum32 folded to 16 bits, little-endian
 *   bytes 4-7  keyed checksum: checksum32 of (fingerprint id, sample id, payload), little-endian
 *   bytes 8-   payload: the values, little-endian, in the activation's row-major order
 *
 * The keyed checksum binds a value to the key it was written under: a value that turns up under
 * another key (a damaged file whose page pointers were swapped, a copy under the wrong sample)
 * fails it, although its own bytes are intact. Readers that know the key (training, verify,
 * export, repair) check it; the 16-bit payload check is for a value read without its key.
 *
 * Values of format version 1 (payload-only checksum) are outdated, not corrupt: a run treats them
 * as misses, recomputes and overwrites them. The element count comes from the fingerprint's shape,
 * so a value of the wrong length is as corrupt as one with a bad checksum. Decoding never hands
 * out bad data: it reports 'corrupt'.
 */
import { checksum32, keyedSeed } from './checksum';
import { decodeHalf, encodeHalf } from './half';

export type Codec = 'float32' | 'float16';
const CODEC_IDS: Record<Codec, number> = { float32: 0, float16: 1 };
const HEADER = 8;
/** the value format written; older versions read as 'outdated' */
export const VALUE_FORMAT_VERSION = 2;

/** The key a value is stored under; its keyed checksum covers it. */
export interface ValueKey {
  fingerprintId: number;
  sampleId: number;
}

export type DecodeResult = 'ok' | 'corrupt' | 'outdated';

export function encodedBytes(codec: Codec, elements: number): number {
  return HEADER + elements * (codec === 'float32' ? 4 : 2);
}

/** The payload's words and tail word as checksum32 takes them. */
function payloadWords(codec: Codec, payload: Float32Array | Uint16Array): [Uint32Array, number] {
  if (codec === 'float32') return [new Uint32Array(payload.buffer, payload.byteOffset, payload.length), 0];
  const half = payload as Uint16Array;
  return [new Uint32Array(half.buffer, half.byteOffset, half.length >>> 1), half.length & 1 ? (half[half.length - 1] as number) : 0];
}

const fold16 = (sum: number) => (sum ^ (sum >>> 16)) & 0xffff;

/** [16-bit payload check, keyed checksum] of a payload already in its stored form. */
function sums(codec: Codec, payload: Float32Array | Uint16Array, key: ValueKey): [number, number] {
  const [words, tail] = payloadWords(codec, payload);
  return [fold16(checksum32(words, tail)), checksum32(words, tail, keyedSeed(key.fingerprintId, key.sampleId))];
}

export function encodeValue(values: Float32Array, codec: Codec, key: ValueKey): Uint8Array {
  const out = new Uint8Array(encodedBytes(codec, values.length));
  out[0] = VALUE_FORMAT_VERSION;
  out[1] = CODEC_IDS[codec];
  let stored: Float32Array | Uint16Array = values;
  if (codec === 'float32') {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), HEADER);
  } else {
    stored = new Uint16Array(values.length);
    encodeHalf(values, stored);
    out.set(new Uint8Array(stored.buffer), HEADER);
  }
  const [check, keyed] = sums(codec, stored, key);
  const view = new DataView(out.buffer);
  view.setUint16(2, check, true);
  view.setUint32(4, keyed, true);
  return out;
}

let scratch = new Uint16Array(0);

function codecOf(bytes: Uint8Array): Codec | undefined {
  return (Object.keys(CODEC_IDS) as Codec[]).find((c) => CODEC_IDS[c] === bytes[1]);
}

/** Whether the stored sums match: the keyed one when the key is known, else the 16-bit one. */
function sumsMatch(bytes: Uint8Array, codec: Codec, payload: Float32Array | Uint16Array, key: ValueKey | undefined): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const [words, tail] = payloadWords(codec, payload);
  if (key === undefined) return fold16(checksum32(words, tail)) === view.getUint16(2, true);
  return checksum32(words, tail, keyedSeed(key.fingerprintId, key.sampleId)) === view.getUint32(4, true);
}

/**
 * Decodes `bytes` into `dst[offset .. offset + elements)`: 'ok', 'corrupt' (and garbage in that
 * range, which the caller overwrites) or 'outdated' (an older format version: recompute it).
 * With `key` the keyed checksum is checked; without, only the 16-bit payload check.
 */
export function decodeInto(bytes: Uint8Array, dst: Float32Array, offset: number, elements: number, key?: ValueKey): DecodeResult {
  if (bytes.length < HEADER) return 'corrupt';
  if (bytes[0] !== VALUE_FORMAT_VERSION)
    return bytes[0] !== undefined && bytes[0] >= 1 && bytes[0] < VALUE_FORMAT_VERSION ? 'outdated' : 'corrupt';
  const codec = codecOf(bytes);
  if (codec === undefined || bytes.length !== encodedBytes(codec, elements)) return 'corrupt';
  const payload = bytes.subarray(HEADER);
  if (codec === 'float32') {
    new Uint8Array(dst.buffer, dst.byteOffset + offset * 4, elements * 4).set(payload);
    return sumsMatch(bytes, codec, dst.subarray(offset, offset + elements), key) ? 'ok' : 'corrupt';
  }
  if (scratch.length < elements + 1) scratch = new Uint16Array(elements + 1);
  const half = scratch.subarray(0, elements);
  new Uint8Array(half.buffer, 0, elements * 2).set(payload);
  if (!sumsMatch(bytes, codec, half, key)) return 'corrupt';
  decodeHalf(half, dst, offset);
  return 'ok';
}

/** decodeInto, true only for 'ok'. */
export function decodeValue(bytes: Uint8Array, dst: Float32Array, offset: number, elements: number, key?: ValueKey): boolean {
  return decodeInto(bytes, dst, offset, elements, key) === 'ok';
}

export interface ValueCheck {
  /** the codec named in the header, when it names one */
  codec: Codec | undefined;
  /** header, length and checksum all correct */
  ok: boolean;
  /** an older format version: not corrupt, recomputed by the next run that reads it */
  outdated?: boolean;
  /** what is wrong, when not ok */
  problem?: string;
  /** the values as stored, decoded even when the checksum fails (absent when undecodable) */
  values?: Float32Array;
}

/**
 * Decodes a value for inspection (`cache show`, `verify`): unlike decodeInto it says what is
 * wrong and still hands out the values of a value whose only fault is its checksum, so a person
 * can look at a corrupt entry. Training never uses this.
 */
export function inspectValue(bytes: Uint8Array, elements: number, key?: ValueKey): ValueCheck {
  if (bytes.length < HEADER) return { codec: undefined, ok: false, problem: `${bytes.length} bytes, shorter than the header` };
  if (bytes[0] !== VALUE_FORMAT_VERSION) {
    const version = bytes[0] as number;
    if (version >= 1 && version < VALUE_FORMAT_VERSION) {
      return {
        codec: undefined,
        ok: false,
        outdated: true,
        problem: `format version ${version}, recomputed by the next run that reads it`,
      };
    }
    return { codec: undefined, ok: false, problem: `unknown format version ${version}` };
  }
  const codec = codecOf(bytes);
  if (codec === undefined) return { codec, ok: false, problem: `unknown codec ${bytes[1]}` };
  const want = encodedBytes(codec, elements);
  if (bytes.length !== want) return { codec, ok: false, problem: `${bytes.length} bytes, expected ${want}` };
  // a copy: Buffer#slice is a view, and the typed arrays below need an aligned buffer of their own
  const raw = new Uint8Array(bytes.length - HEADER);
  raw.set(bytes.subarray(HEADER));
  const values = new Float32Array(elements);
  const payload = codec === 'float32' ? new Float32Array(raw.buffer, 0, elements) : new Uint16Array(raw.buffer, 0, elements);
  if (codec === 'float32') values.set(payload);
  else decodeHalf(payload as Uint16Array, values, 0);
  if (!sumsMatch(bytes, codec, payload, undefined)) return { codec, ok: false, problem: 'checksum mismatch', values };
  if (key && !sumsMatch(bytes, codec, payload, key)) {
    return { codec, ok: false, problem: 'keyed checksum mismatch: the value was written under another key', values };
  }
  return { codec, ok: true, values };
}

/**
 * Random access into a big JSON array of numbers without parsing it whole. The mnist package
 * stores each digit as `{ "data": [ ...784 numbers per image... ] }`, about 2 MB per file; parsing
 * such a file takes tens of milliseconds and yields a JS array of ~800k boxed numbers. Instead we
 * scan the bytes once, counting commas, and remember where every sample begins; a read then
 * fetches and parses just the bytes of the samples it needs.
 *
 * The parser takes a fast path for the shapes that occur ("0", "1", "0.624"): digits/10^k with
 * both operands exact doubles is a single correctly rounded division, i.e. exactly what Number()
 * returns, so results match JSON.parse bit for bit. Anything else falls back to Number().
 */
import { UserError } from '@permafrost/telemetry';

const COMMA = 0x2c;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const CLOSE = 0x5d;
const POW10 = Array.from({ length: 16 }, (_, k) => 10 ** k);

/**
 * Byte offsets where each group of `perSample` numbers starts in the array under `key`, plus one
 * final entry at the closing bracket, so sample k spans [starts[k], starts[k+1]).
 */
export function indexSampleStarts(bytes: Uint8Array, key: string, perSample: number, path: string): Uint32Array {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const keyAt = buf.indexOf(`"${key}"`);
  const open = keyAt < 0 ? -1 : buf.indexOf('[', keyAt);
  const close = buf.lastIndexOf(']');
  if (open < 0 || close < open) throw new UserError(`expected a JSON array under "${key}"`, path);
  const starts: number[] = [open + 1];
  let commas = 0;
  for (let i = open + 1; i < close; i++) {
    if (bytes[i] === COMMA && ++commas % perSample === 0) starts.push(i + 1);
  }
  if ((commas + 1) % perSample !== 0) {
    throw new UserError(`has ${commas + 1} numbers, not a multiple of ${perSample} per sample`, path);
  }
  starts.push(close);
  return Uint32Array.from(starts);
}

const isSeparator = (c: number) => c === COMMA || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Parses `count` comma-separated numbers from `bytes` into `out` starting at `outOffset`. */
export function parseNumbers(bytes: Uint8Array, count: number, out: Float32Array, outOffset: number, path: string): void {
  const len = bytes.length;
  let i = 0;
  for (let k = 0; k < count; k++) {
    while (i < len && isSeparator(bytes[i] as number)) i++;
    const start = i;
    let whole = 0;
    let wholeDigits = 0;
    let frac = 0;
    let fracDigits = 0;
    let dot = false;
    let simple = true;
    for (; i < len; i++) {
      const c = bytes[i] as number;
      if (isSeparator(c) || c === CLOSE) break;
      if (c >= ZERO && c <= NINE) {
        if (dot) {
          frac = frac * 10 + (c - ZERO);
          fracDigits++;
        } else {
          whole = whole * 10 + (c - ZERO);
          wholeDigits++;
        }
      } else if (c === DOT && !dot) {
        dot = true;
      } else {
        simple = false;
      }
    }
    if (i === start) throw new UserError(`expected ${count} numbers, found ${k}`, path);
    let value: number;
    if (simple && wholeDigits + fracDigits > 0 && wholeDigits <= 15 && fracDigits <= 15 && (whole === 0 || fracDigits === 0)) {
      value = fracDigits === 0 ? whole : frac / (POW10[fracDigits] as number);
    } else {
      value = Number(Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('latin1'));
    }
    if (!Number.isFinite(value)) throw new UserError(`not a number near byte ${start} of a sample`, path);
    out[outOffset + k] = value;
  }
}

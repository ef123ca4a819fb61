/**
 * IEEE 754 binary16 <-> binary32 in plain JavaScript (Node 20 has no Float16Array). Encoding
 * rounds to nearest, ties to even; values beyond the half range become +-Infinity, NaN stays
 * NaN. Decoding uses a 65,536-entry table built on first use.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const bits = x & 0x7fffffff;
  if (bits >= 0x7f800000) return sign | (bits > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (bits >= 0x477ff000) return sign | 0x7c00; // rounds past 65504
  if (bits < 0x38800000) {
    // subnormal half (or zero): value / 2^-24, rounded half to even
    f32[0] = value < 0 ? -value : value;
    const v = (f32[0] as number) * 16777216;
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 === 1) r -= 1;
    return sign | r;
  }
  // normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits
  const rounded = bits - 0x38000000 + 0xfff + ((bits >>> 13) & 1);
  return sign | (rounded >>> 13);
}

let table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const man = h & 0x3ff;
    table[h] =
      exp === 0
        ? sign * man * 2 ** -24
        : exp === 31
          ? man
            ? Number.NaN
            : sign * Number.POSITIVE_INFINITY
          : sign * (1 + man / 1024) * 2 ** (exp - 15);
  }
  return table;
}

export function encodeHalf(src: Float32Array, dst: Uint16Array): void {
  for (let i = 0; i < src.length; i++) dst[i] = toHalfBits(src[i] as number);
}

export function decodeHalf(src: Uint16Array, dst: Float32Array, offset: number): void {
  const t = halfTable();
  for (let i = 0; i < src.length; i++) dst[offset + i] = t[src[i] as number] as number;
}

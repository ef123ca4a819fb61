/**
 * A 32-bit checksum over 32-bit words, fast enough to run on every cached activation read
 * (gigabytes per second with Math.imul, where a byte-wise CRC-32 in JavaScript would cost more
 * than the read itself). Each step h = rotl(imul(h ^ w, odd), 13) is a bijection of h for a fixed
 * word and of w for a fixed h, so any change confined to one word always changes the result;
 * wider corruption goes unnoticed with probability about 2^-32. The length is mixed in last.
 */
export function checksum32(words: Uint32Array, tail = 0): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) {
    h = Math.imul(h ^ (words[i] as number), 0x9e3779b1);
    h = (h << 13) | (h >>> 19);
  }
  h = Math.imul(h ^ tail, 0x85ebca6b);
  h = Math.imul(h ^ words.length, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

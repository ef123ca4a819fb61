/**
 * A 32-bit checksum over 32-bit words, fast enough to run on every cached activation read
 * (gigabytes per second with Math.imul, where a byte-wise CRC-32 in JavaScript would cost more
 * than the read itself). Each step h = rotl(imul(h ^ w, odd), 13) is a bijection of h for a fixed
 * word and of w for a fixed h, so any change confined to one word always changes the result;
 * wider corruption goes unnoticed with probability about 2^-32. The length is mixed in last.
 *
 * `seed` is the state before the first word: keyedSeed() folds a value's key (fingerprint id,
 * sample id) into it, so the same payload stored under another key has another checksum.
 */
const START = 0x811c9dc5;

function step(h: number, w: number): number {
  const x = Math.imul(h ^ w, 0x9e3779b1);
  return (x << 13) | (x >>> 19);
}

export function checksum32(words: Uint32Array, tail = 0, seed = START): number {
  let h = seed;
  for (let i = 0; i < words.length; i++) h = step(h, words[i] as number);
  h = Math.imul(h ^ tail, 0x85ebca6b);
  h = Math.imul(h ^ words.length, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The checksum state after the words (fingerprint id, sample id): two more steps of the same
 * bijection, so two keys that differ in one of them never give the same seed.
 */
export function keyedSeed(fingerprintId: number, sampleId: number): number {
  return step(step(START, fingerprintId >>> 0), sampleId >>> 0);
}

/**
 * Seeded pseudo-random numbers for everything that must be reproducible from the config alone
 * (splits, epoch shuffles, and other libs' sampling), which Math.random cannot give us.
 *
 * The generator is a Weyl sequence (a counter stepped by the golden-ratio constant) pushed through
 * murmur3's 32-bit finaliser. The finaliser avalanches every input bit, so neighbouring seeds
 * (1, 2, 3 ...) give unrelated streams; the state is one 32-bit integer, so it is cheap to create
 * a generator per (seed, epoch). Not cryptographic.
 */

const GOLDEN = 0x9e3779b9;

function fmix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** Hashes all 64 bits of the double, so seeds that differ only in high bits or fractions differ. */
function seedBits(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  f64[0] = seed === 0 ? 0 : seed; // -0 and 0 are the same seed
  return fmix32((u32[0] ?? 0) ^ fmix32((u32[1] ?? 0) + GOLDEN));
}

/** Returns a generator of floats in [0,1) with 32 bits of resolution. */
export function seededRandom(seed: number): () => number {
  let state = seedBits(seed);
  return () => {
    state = (state + GOLDEN) | 0;
    return fmix32(state) / 4294967296;
  };
}

/** Combines a seed with salts (a purpose tag, an epoch ...) into an independent 32-bit seed. */
export function deriveSeed(seed: number, ...salts: number[]): number {
  let h = seedBits(seed);
  for (const salt of salts) h = fmix32((h + GOLDEN) ^ seedBits(salt));
  return h;
}

/** Fisher-Yates over the first `count` positions: a uniform random sample of that many, in random order. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(items: T, rand: () => number, count = items.length): T {
  const n = items.length;
  const stop = Math.min(count, n - 1);
  for (let i = 0; i < stop; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

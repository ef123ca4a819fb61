import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveSeed, seededRandom, shuffleInPlace } from './seeded-random';

const draw = (seed: number, n: number) => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => r());
};

describe('seededRandom', () => {
  it('repeats for the same seed and stays in [0,1)', () => {
    const a = draw(42, 1000);
    assert.deepEqual(a, draw(42, 1000));
    assert.ok(a.every((x) => x >= 0 && x < 1));
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  });

  it('gives unrelated streams for neighbouring, large, negative and fractional seeds', () => {
    const seeds = [0, 1, 2, -1, 0.5, 2 ** 32, 2 ** 32 + 1, 2 ** 40];
    const firsts = new Set(seeds.map((s) => draw(s, 3).join()));
    assert.equal(firsts.size, seeds.length);
    assert.deepEqual(draw(-0, 5), draw(0, 5));
  });

  it('rejects non-finite seeds', () => {
    assert.throws(() => seededRandom(Number.NaN), RangeError);
  });
});

describe('deriveSeed', () => {
  it('depends on every salt and on their order', () => {
    assert.equal(deriveSeed(7, 1, 2), deriveSeed(7, 1, 2));
    assert.notEqual(deriveSeed(7, 1, 2), deriveSeed(7, 2, 1));
    assert.notEqual(deriveSeed(7, 1), deriveSeed(8, 1));
  });
});

describe('shuffleInPlace', () => {
  it('permutes, and a partial shuffle fills the prefix with a random sample', () => {
    const full = shuffleInPlace(
      Array.from({ length: 50 }, (_, i) => i),
      seededRandom(3),
    );
    assert.deepEqual(
      [...full].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
    const part = shuffleInPlace(
      Array.from({ length: 50 }, (_, i) => i),
      seededRandom(3),
      5,
    );
    assert.deepEqual(part.slice(0, 5), full.slice(0, 5));
  });
});

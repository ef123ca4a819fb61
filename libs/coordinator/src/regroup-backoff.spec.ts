import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegroupBackoff } from './regroup-backoff';

describe('regroup backoff', () => {
  it('forms the first change at once, and any generation after one that committed a step', () => {
    const b = new RegroupBackoff(500, 16_000);
    assert.equal(b.pauseMs(272), 0);
    b.formed(272);
    assert.equal(b.pauseMs(300), 0);
    b.formed(300);
    assert.equal(b.pauseMs(301), 0);
  });

  it('doubles the pause for each generation in a row that committed no step, up to the longest', () => {
    const b = new RegroupBackoff(500, 16_000);
    b.formed(272);
    const pauses: number[] = [];
    for (let i = 0; i < 8; i++) {
      pauses.push(b.pauseMs(272));
      b.formed(272);
    }
    assert.deepEqual(pauses, [500, 1000, 2000, 4000, 8000, 16_000, 16_000, 16_000]);
  });

  it('resets once a generation commits a step', () => {
    const b = new RegroupBackoff(500, 16_000);
    b.formed(10);
    b.formed(10);
    b.formed(10);
    assert.equal(b.pauseMs(10), 2000);
    b.formed(11);
    assert.equal(b.pauseMs(11), 500);
    b.formed(12);
    assert.equal(b.pauseMs(20), 0);
  });
});

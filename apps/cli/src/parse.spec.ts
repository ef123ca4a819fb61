import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import { parseDuration, parseFraction } from './parse';

describe('parsing flag values', () => {
  it('reads durations in milliseconds', () => {
    assert.equal(parseDuration('30d', '--older-than'), 30 * 86_400_000);
    assert.equal(parseDuration('1d12h', '--older-than'), 36 * 3_600_000);
    assert.equal(parseDuration('90m', '--older-than'), 5_400_000);
    assert.equal(parseDuration('1.5s', '--older-than'), 1500);
    assert.equal(parseDuration('250ms', '--older-than'), 250);
    assert.equal(parseDuration('2w', '--older-than'), 14 * 86_400_000);
    for (const bad of ['', '30', 'd', '3 days', '-1d', '1d 2h']) {
      assert.throws(
        () => parseDuration(bad, '--older-than'),
        (e: unknown) => e instanceof UserError && e.message.startsWith('--older-than: expected a duration'),
        bad,
      );
    }
  });

  it('reads fractions in (0, 1]', () => {
    assert.equal(parseFraction('0.25', '--sample-fraction'), 0.25);
    assert.equal(parseFraction('1', '--sample-fraction'), 1);
    for (const bad of ['0', '1.5', 'x', '']) assert.throws(() => parseFraction(bad, '--sample-fraction'), /expected a fraction/);
  });
});

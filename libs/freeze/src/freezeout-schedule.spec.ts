import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FreezePlan } from './freeze-plan';
import { FreezeoutSchedule, freezeTimes } from './freezeout-schedule';
import { formatPreview, previewSchedule } from './preview';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

describe('freezeTimes: t_i = f(t0 + (1 - t0) i / L)', () => {
  it('cubic with t0 = 0.8 starts at 0.512, as the paper recommends', () => {
    const t = freezeTimes(4, { schedule: 'cubic', t0: 0.8, scaleLr: true });
    [0.512, 0.85 ** 3, 0.9 ** 3, 0.95 ** 3].forEach((v, i) => {
      close(t[i] as number, v);
    });
  });
  it('linear and squared', () => {
    const lin = freezeTimes(4, { schedule: 'linear', t0: 0.8, scaleLr: true });
    [0.8, 0.85, 0.9, 0.95].forEach((v, i) => {
      close(lin[i] as number, v);
    });
    const sq = freezeTimes(5, { schedule: 'squared', t0: 0.5, scaleLr: true });
    [0.25, 0.36, 0.49, 0.64, 0.81].forEach((v, i) => {
      close(sq[i] as number, v);
    });
  });
  it('rejects t0 outside (0, 1]', () => {
    assert.throws(() => freezeTimes(3, { schedule: 'cubic', t0: 0, scaleLr: true }), /t0/);
    assert.throws(() => freezeTimes(3, { schedule: 'cubic', t0: 1.2, scaleLr: true }), /t0/);
  });
});

describe('FreezeoutSchedule', () => {
  const s = new FreezeoutSchedule(4, 100, { schedule: 'cubic', t0: 0.8, scaleLr: true });

  it('learning rate a_i(t) = 0.5 a(0)/t_i (1 + cos(pi t / t_i))', () => {
    for (const [i, step] of [
      [0, 0],
      [0, 25],
      [1, 40],
      [3, 85],
    ] as const) {
      const ti = s.times[i] as number;
      const expected = 0.5 * (0.1 / ti) * (1 + Math.cos((Math.PI * (step / 100)) / ti));
      close(s.learningRate(i, step, 0.1), expected);
    }
    close(s.learningRate(0, 0, 0.1), 0.1 / 0.512);
    // half way to t_i the rate is half its start
    const half = new FreezeoutSchedule(1, 1000, { schedule: 'linear', t0: 0.5, scaleLr: false });
    close(half.learningRate(0, 250, 1), 0.5);
  });

  it('without scaling a_i(0) = a(0)', () => {
    const u = new FreezeoutSchedule(4, 100, { schedule: 'cubic', t0: 0.8, scaleLr: false });
    close(u.learningRate(2, 0, 0.01), 0.01);
  });

  it('freezes at the first step with k/T > t_i, and the rate is 0 from then on', () => {
    assert.deepEqual(s.freezeSteps, [52, 62, 73, 86]);
    assert.ok(s.learningRate(0, 51, 0.1) > 0);
    assert.equal(s.learningRate(0, 52, 0.1), 0);
    assert.equal(s.learningRate(0, 99, 0.1), 0);
    assert.equal(s.frozenCount(51), 0);
    assert.equal(s.frozenCount(52), 1);
    assert.equal(s.frozenCount(86), 4);
  });

  it('the rate decreases monotonically to the freeze step', () => {
    for (let i = 0; i < 4; i++) {
      let prev = Number.POSITIVE_INFINITY;
      for (let k = 0; k < (s.freezeSteps[i] as number); k++) {
        const lr = s.learningRate(i, k, 1);
        assert.ok(lr <= prev && lr >= 0);
        prev = lr;
      }
    }
  });
});

describe('FreezePlan', () => {
  const blocks = ['b1', 'b2', 'b3', 'b4'].map((name, i) => ({ name, last: `${name}_out`, flops: 10 * (i + 1) }));

  it('freezeout: one event per freeze step, boundaries move to the block ends', () => {
    const plan = new FreezePlan({ policy: 'freezeout', schedule: 'cubic', t0: 0.8, scaleLr: true }, blocks, 'stem_out', 100);
    assert.deepEqual(
      plan.events.map((e) => [e.step, e.boundary]),
      [
        [52, 'b1_out'],
        [62, 'b2_out'],
        [73, 'b3_out'],
        [86, 'b4_out'],
      ],
    );
    assert.equal(plan.boundaryAt(0), 'stem_out');
    assert.equal(plan.boundaryAt(61), 'b1_out');
    assert.equal(plan.boundaryAt(99), 'b4_out');
    assert.deepEqual([...plan.learningRates(70, 1).keys()], ['b3', 'b4']);
  });

  it('merges blocks that freeze at the same step, and leaves out freezes past the end', () => {
    const plan = new FreezePlan({ policy: 'freezeout', schedule: 'linear', t0: 0.9, scaleLr: true }, blocks, 'stem_out', 10);
    // t = 0.9, 0.925, 0.95, 0.975 -> steps 10, 10, 10, 10: all at or past T
    assert.deepEqual(plan.events, []);
    const merged = new FreezePlan({ policy: 'freezeout', schedule: 'linear', t0: 0.5, scaleLr: true }, blocks, 'stem_out', 4);
    // t = 0.5, 0.625, 0.75, 0.875 -> steps 3, 3, 4, 4
    assert.deepEqual(merged.events, [{ step: 3, boundary: 'b2_out', blocks: ['b1', 'b2'] }]);
  });

  it('prefix and last-k: a fixed boundary and the base rate everywhere', () => {
    const plan = new FreezePlan({ policy: 'last-k' }, blocks, 'stem_out', 100);
    assert.deepEqual(plan.events, []);
    assert.equal(plan.boundaryAt(99), 'stem_out');
    assert.deepEqual([...plan.learningRates(99, 0.5).values()], [0.5, 0.5, 0.5, 0.5]);
  });
});

describe('previewSchedule', () => {
  it('no freezing within the run: paper 1x, the cache saves the prefix after epoch 1', () => {
    const blocks = [{ name: 'b', last: 'b', flops: 1 }];
    const plan = new FreezePlan({ policy: 'prefix' }, blocks, 'p', 40);
    const p = previewSchedule(plan, { stepsPerEpoch: 10, prefixFlops: 10, headFlops: 1 });
    close(p.paperSpeedup, 1);
    // baseline 40 * (10 + 2 + 2) = 560; cached 10 * 10 + 2 * 40 + 2 * 40 = 260
    close(p.cachedSpeedup, 560 / 260);
  });
  it('freezeout: steps, epochs and shares per block, and both estimates', () => {
    const blocks = [
      { name: 'b1', last: 'b1', flops: 4 },
      { name: 'b2', last: 'b2', flops: 4 },
    ];
    const plan = new FreezePlan({ policy: 'freezeout', schedule: 'linear', t0: 0.5, scaleLr: true }, blocks, 'p', 100);
    const p = previewSchedule(plan, { stepsPerEpoch: 25, prefixFlops: 8, headFlops: 0 });
    // t = 0.5, 0.75 -> steps 51, 76
    assert.deepEqual(
      p.blocks.map((b) => [b.freezeStep, b.freezeEpoch]),
      [
        [51, 3],
        [76, 4],
      ],
    );
    close(p.blocks[0]?.forwardShare as number, 0.25);
    const baseline = 100 * (8 + 16);
    close(p.paperSpeedup, baseline / (100 * (8 + 8) + 4 * 51 + 4 * 76));
    close(p.cachedSpeedup, baseline / (25 * 8 + 8 * 51 + 4 * 25 + 8 * 76 + 4 * 25));
    assert.match(formatPreview(p), /b1 +0\.500 +51 +3 +25\.0%/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedSeries } from './bounded-series';
import { FleetView } from './fleet-view';
import { formatStatus } from './status-text';
import type { ProgressInfo } from './worker-tracker';

const plan = { jobId: 'j', epochs: 2, stepsPerEpoch: 10, startEpoch: 1, version: 'test' };
const progress = (epoch: number, step: number, samples: number): ProgressInfo => ({
  epoch,
  step,
  steps: 10,
  samples,
  lossSum: samples * 2,
  cacheHits: samples,
  cacheMisses: 0,
  readSeconds: 0.1,
  computeSeconds: 0.2,
  allreduceSeconds: 0.1,
  allreduceBytes: BigInt(step * 100),
});
const epoch = (n: number) => ({
  epoch: n,
  trainLoss: 1,
  valLoss: 1,
  valAccuracy: 0.5,
  seconds: 1,
  samplesPerSec: 10,
  cacheHits: 1,
  cacheMisses: 1,
  boundary: 'b',
  trainableLayers: 1,
});
const members = [
  { workerId: 'a', rank: 0 },
  { workerId: 'b', rank: 1 },
];

async function value(view: FleetView, name: string): Promise<string> {
  const line = (await view.metrics.text()).split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line?.split(' ').at(-1) ?? '';
}

describe('FleetView', () => {
  it("counts global steps at the slowest worker's step, and whole epochs at their end", async () => {
    const view = new FleetView(plan);
    view.membership({ generation: 1n, members, reason: 'formed' });
    view.progress('a', progress(1, 6, 30));
    assert.equal(await value(view, 'permafrost_train_steps_total'), '0', 'b has not reported');
    view.progress('b', progress(1, 4, 20));
    assert.equal(await value(view, 'permafrost_train_steps_total'), '4');
    view.epochDone(epoch(1));
    assert.equal(await value(view, 'permafrost_train_steps_total'), '10');
    view.progress('a', progress(2, 3, 15));
    view.progress('b', progress(2, 3, 15));
    view.epochDone(epoch(2));
    assert.equal(await value(view, 'permafrost_train_steps_total'), '20');
    assert.equal(view.status().globalStep, 20);
    assert.equal(view.status().epochPoints.length, 2);
  });

  it('reports the membership and health, and fails to 503 with the reason', async () => {
    const view = new FleetView(plan);
    assert.equal(view.health().ok, true);
    view.membership({ generation: 1n, members, reason: 'formed' });
    view.setState('running');
    assert.equal(await value(view, 'permafrost_generation'), '1');
    assert.equal(await value(view, 'permafrost_workers'), '2');
    view.setState('failed', 'worker b lost');
    assert.equal(view.health().ok, false);
    assert.deepEqual(
      view.status().failures.map((f) => f.reason),
      ['worker b lost'],
    );
    assert.equal(await value(view, 'permafrost_worker_failures_total'), '1');
  });

  it('a new generation names who left and joined; the status text lists the change', async () => {
    const view = new FleetView(plan);
    view.membership({ generation: 1n, members, reason: 'formed' });
    view.membership({
      generation: 2n,
      members: [{ workerId: 'a', rank: 0 }],
      reason: 'worker a (rank 0) halted: peer gone',
      left: [{ workerId: 'b', reason: 'disconnected' }],
    });
    view.membership({
      generation: 3n,
      members: [...members, { workerId: 'c', rank: 2 }],
      reason: 'worker b joins',
    });
    const m = view.status().membership;
    assert.deepEqual(
      m.map((e) => [e.generation, e.workers, e.left, e.joined]),
      [
        [1, ['a', 'b'], [], []],
        [2, ['a'], [{ workerId: 'b', reason: 'disconnected' }], []],
        [3, ['a', 'b', 'c'], [], ['b', 'c']],
      ],
    );
    assert.equal(await value(view, 'permafrost_generation'), '3');
    const text = formatStatus(view.status());
    assert.match(text, /^generation 2: 1 workers \(left b: disconnected\): worker a \(rank 0\) halted: peer gone$/m);
    assert.match(text, /^generation 3: 3 workers \(joined b, c\): worker b joins$/m);
  });

  it('per-worker counters add the deltas between cumulative reports', async () => {
    const view = new FleetView(plan);
    view.membership({ generation: 1n, members: [{ workerId: 'a', rank: 0 }], reason: 'formed' });
    view.progress('a', progress(1, 2, 10));
    view.progress('a', progress(1, 5, 25));
    view.progress('a', progress(2, 1, 5));
    assert.equal(await value(view, 'permafrost_train_samples_total'), '30');
    assert.equal(await value(view, 'permafrost_allreduce_bytes_total'), '500');
  });
});

describe('BoundedSeries', () => {
  it('halves its resolution when full and keeps the newest point', () => {
    const s = new BoundedSeries<number>(4);
    for (let i = 1; i <= 9; i++) s.push(i);
    assert.ok(s.length <= 4);
    assert.equal(s.values.at(-1), 9);
    assert.deepEqual(
      s.values,
      [...s.values].sort((a, b) => a - b),
    );
  });
});

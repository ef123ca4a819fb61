import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { FleetView } from '@permafrost/observe';
import { StatusResponseSchema, type WatchResponse } from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';
import { CoordinatorEvents } from './coordinator-events';
import type { WatchStream } from './handlers';
import { StatusWatch } from './status-watch';

const STEPS = 40;

/** Events feeding a FleetView, as runCoordinator wires them. */
function job() {
  const events = new CoordinatorEvents();
  const view = new FleetView({ jobId: 'j', epochs: 1, stepsPerEpoch: STEPS, startEpoch: 1, version: 'test' });
  events.on('membership', (m) => view.membership(m));
  events.on('progress', (id, p) => view.progress(id, p));
  events.on('state', (s, r) => view.setState(s, r));
  const source = {
    events,
    view: () => view.status(),
    status: async () => create(StatusResponseSchema, { state: view.status().state, epoch: view.status().epoch }),
  };
  return { events, source };
}

const progress = (step: number) =>
  ({ epoch: 1, step, steps: STEPS, samples: step * 4, lossSum: step, cacheHits: 0, cacheMisses: step * 4 }) as never;

/** A WatchStream that records what it is sent, when, and how it ended. */
function recorder(peer = 'p') {
  const sent: { at: number; e: WatchResponse }[] = [];
  const closeFns: (() => void)[] = [];
  let ended: { error: PermafrostError | undefined } | undefined;
  const stream: WatchStream = {
    peer,
    onClose: (fn) => closeFns.push(fn),
    send: (e) => sent.push({ at: Date.now(), e }),
    end: (error) => {
      ended = { error };
      for (const fn of closeFns.splice(0)) fn();
    },
  };
  const cancel = () => {
    for (const fn of closeFns.splice(0)) fn();
  };
  return { stream, sent, cancel, ended: () => ended };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await sleep(20);
  assert.ok(ok(), 'condition not met within 4 s');
};

describe('StatusWatch', () => {
  it('a snapshot at once, then changes at most every minIntervalMs; the final one ends the call OK', async () => {
    const { events, source } = job();
    const watch = new StatusWatch(source, { minIntervalMs: 300 });
    const r = recorder();
    watch.watch(r.stream);
    await until(() => r.sent.length === 1);
    events.emit('membership', { generation: 1n, members: [{ workerId: 'a', rank: 0 }], reason: 'formed' });
    events.emit('state', 'running', undefined);
    const t0 = Date.now();
    for (let step = 1; step <= 30; step++) {
      events.emit('progress', 'a', progress(step));
      await sleep(40);
    }
    const elapsed = Date.now() - t0;
    events.emit('state', 'finished', undefined);
    await until(() => r.ended() !== undefined);
    assert.equal(r.ended()?.error, undefined);
    const gaps = r.sent.slice(1, -1).map((s, i) => s.at - (r.sent[i]?.at ?? 0));
    assert.ok(
      gaps.every((g) => g >= 290),
      `gaps ${gaps.join(' ')}`,
    );
    assert.ok(r.sent.length >= 3, `snapshots: ${r.sent.length}`);
    assert.ok(r.sent.length <= 3 + Math.ceil(elapsed / 300), `${r.sent.length} snapshots in ${elapsed} ms`);
    const steps = r.sent.map((s) => Number(s.e.globalStep));
    assert.deepEqual(
      steps,
      [...steps].sort((a, b) => a - b),
    );
    assert.ok(new Set(steps).size >= 3, `steps seen: ${steps.join(' ')}`);
    const last = r.sent.at(-1)?.e;
    assert.equal(last?.status?.state, 'finished');
    assert.equal(Number(last?.totalSteps), STEPS);
    const v = JSON.parse(last?.viewJson ?? '');
    assert.equal(v.state, 'finished');
    assert.deepEqual(v.stepPoints, [], 'no time series on the wire');
    assert.deepEqual(v.workers[0].rates, []);
    events.emit('progress', 'a', progress(31));
    await sleep(400);
    assert.equal(r.sent.at(-1)?.e, last, 'nothing after the end');
    assert.equal(watch.size, 0);
  });

  it('a watch of a job that has ended gets one snapshot and ends', async () => {
    const { events, source } = job();
    const watch = new StatusWatch(source);
    events.emit('state', 'failed', 'lost every worker');
    const r = recorder();
    watch.watch(r.stream);
    await until(() => r.ended() !== undefined);
    assert.equal(r.sent.length, 1);
    assert.equal(r.sent[0]?.e.reason, 'lost every worker');
  });

  it('refuses a watcher beyond maxWatchers; a cancelled one frees its place and is sent nothing more', async () => {
    const { events, source } = job();
    const watch = new StatusWatch(source, { maxWatchers: 2, minIntervalMs: 50 });
    const [a, b, c] = [recorder('a'), recorder('b'), recorder('c')];
    watch.watch(a.stream);
    watch.watch(b.stream);
    assert.throws(
      () => watch.watch(c.stream),
      (e) => e instanceof PermafrostError && e.code === 'resource-exhausted',
    );
    await until(() => a.sent.length === 1 && b.sent.length === 1);
    a.cancel();
    assert.equal(watch.size, 1);
    watch.watch(c.stream);
    events.emit('state', 'running', undefined);
    await until(() => b.sent.length === 2 && c.sent.length === 2);
    await sleep(100);
    assert.equal(a.sent.length, 1);
    watch.close();
    await until(() => b.ended() !== undefined && c.ended() !== undefined);
    assert.deepEqual([b.sent.length, c.sent.length], [3, 3], 'a final snapshot each');
  });
});

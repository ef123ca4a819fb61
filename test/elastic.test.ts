/**
 * Elastic training with real processes (docs/distributed.md#what-happens-when): a coordinator with
 * 3 local workers loses one (kill -9 in the first epoch's cache fill and mid cached epoch, SIGSTOP)
 * and forms a new generation of the survivors, which roll back to the newest committed step and
 * train on. Each job exits 0, the coordinator's exactly-once and replica checks held every epoch
 * (it fails the job otherwise), the final weights equal the uninterrupted run's, and no process
 * is left. Below cluster.minWorkers the job fails in time, naming the missing worker.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import {
  alive,
  checkpointWeights,
  childrenOf,
  type JobFlags,
  jobFlags,
  maxAbsDiff,
  type Running,
  readJson,
  runCli,
  runPaths,
  startCli,
  tempDir,
} from './support';

const tmp = tempDir('elastic');

const job = (name: string, flags: Partial<JobFlags> = {}) =>
  jobFlags({
    model: 'mlp',
    inputSize: 14,
    trainableLast: 2,
    trainSamples: 1440,
    valSamples: 60,
    epochs: 3,
    batchSize: 48,
    optimizer: 'adam',
    lr: 0.01,
    seed: 5,
    ...runPaths(tmp.path, name),
    ...flags,
  });

/** A job file with the cluster settings a test needs (flags set the rest). */
const cluster = (name: string, settings: Record<string, number>) =>
  tmp.file(
    `${name}.yaml`,
    `model:\n  name: mlp\ndata:\n  dataset: mnist\ncluster:\n${Object.entries(settings)
      .map(([k, v]) => `  ${k}: ${v}\n`)
      .join('')}`,
  );

/** The process ids of every process whose command line names run `name`'s directory. */
function processesOf(name: string): number[] {
  const dir = join(tmp.path, name);
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function workerPid(c: Running, id: string): number {
  const [pid] = childrenOf(c.child.pid as number, new RegExp(` --id ${id} `));
  assert.ok(pid, `no process of worker ${id}`);
  return pid;
}

/** Largest weight difference relative to the largest weight of `want`. */
function relativeDiff(got: Float32Array[], want: Float32Array[]): number {
  const scale = Math.max(...want.map((w) => w.reduce((a, x) => Math.max(a, Math.abs(x)), 0)));
  return maxAbsDiff(got, want) / scale;
}

async function noneLeft(name: string): Promise<void> {
  for (let i = 0; i < 50 && processesOf(name).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(processesOf(name), [], 'processes of the job still running');
}

describe('elastic training', () => {
  let reference: Float32Array[];

  before(async () => {
    await initEngine('wasm');
    const r = await runCli(['train', ...job('single')], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    reference = await checkpointWeights(runPaths(tmp.path, 'single').checkpointDir);
  });

  /** Runs 3 local workers, kills worker local-1 with `signal` once `when` is logged, returns the finished job. */
  async function killDuring(name: string, when: RegExp, extra: string[] = []) {
    const c = startCli(['coordinator', 'start', '--local-workers', '3', ...extra, ...job(name)]);
    await c.waitFor(when, 120_000);
    process.kill(workerPid(c, 'local-1'), 'SIGKILL');
    const exit = await c.exit;
    assert.equal(exit.code, 0, c.stderr());
    await noneLeft(name);
    const report = readJson(runPaths(tmp.path, name).report);
    assert.equal(report.epochs.length, 3);
    const change = report.membership[0];
    assert.ok(change, 'a membership change in the report');
    assert.equal(change.generation, 2);
    assert.deepEqual(
      change.left.map((l: { workerId: string }) => l.workerId),
      ['local-1'],
    );
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, name).checkpointDir), reference);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
    assert.match(c.stderr(), /"msg":"membership changed","generation":2/);
    return { report, change, stderr: c.stderr() };
  }

  it('kill -9 of a worker mid cached epoch: the survivors go on and end with the same weights', async () => {
    const { change } = await killDuring('cached', /"label":"epoch 2\/3","done":\d+/);
    // 30 steps per epoch: the change happened in a cached epoch (progress lines are throttled)
    assert.ok(change.epoch >= 2, `the change happened in epoch ${change.epoch}`);
    assert.ok(change.resumeStep >= 30, `resumed at step ${change.resumeStep}`);
    assert.ok(change.secondsLost < 5, `the change took ${change.secondsLost} s`);
  });

  it('kill -9 of a worker while the first epoch fills the cache', async () => {
    const { change } = await killDuring('fill', /"label":"epoch 1\/3","done":\d+/);
    assert.equal(change.epoch, 1);
  });

  it('SIGSTOP of a worker: excluded within the heartbeat timeout, the job goes on; once continued it is refused', async () => {
    const config = cluster('stop', { heartbeatMs: 200, heartbeatTimeoutMs: 3000, collectiveTimeoutMs: 1500 });
    const c = startCli(['coordinator', 'start', '--config', config, '--local-workers', '3', ...job('stop')]);
    await c.waitFor(/"label":"epoch 2\/3","done":\d+/, 120_000);
    const pid = workerPid(c, 'local-1');
    const t0 = Date.now();
    process.kill(pid, 'SIGSTOP');
    try {
      await c.waitFor(/"msg":"membership changed"/, 20_000);
      assert.ok(Date.now() - t0 < 3000 + 2000, `excluded after ${Date.now() - t0} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // continued, it finds its session cut (it was excluded) and exits instead of training on
    for (let i = 0; i < 150 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(pid), false, 'the continued worker still runs');
    const exit = await c.exit;
    assert.equal(exit.code, 0, c.stderr());
    assert.match(c.stderr(), /"left":\[\{"workerId":"local-1","reason":"stopped answering/);
    await noneLeft('stop');
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, 'stop').checkpointDir), reference);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
  });

  it('below minWorkers with nobody rejoining: exit 1 within rejoinTimeoutMs, naming the missing worker', async () => {
    const config = cluster('min', { minWorkers: 3, maxRestarts: 0, rejoinTimeoutMs: 3000 });
    const c = startCli(['coordinator', 'start', '--config', config, '--local-workers', '3', ...job('min')]);
    await c.waitFor(/"label":"epoch 2\/3","done":\d+/, 120_000);
    const t0 = Date.now();
    process.kill(workerPid(c, 'local-1'), 'SIGKILL');
    const exit = await c.exit;
    assert.equal(exit.code, 1, c.stderr());
    assert.ok(exit.at - t0 < 3000 + 5000, `failed after ${exit.at - t0} ms`);
    assert.match(c.stderr(), /permafrost: only 2 of the minimum 3 workers after waiting 3000 ms; missing: local-1 \(/);
    await noneLeft('min');
    // the epoch-end checkpoint before the loss is there to resume from
    const ckpt = runPaths(tmp.path, 'min').checkpointDir;
    assert.ok(existsSync(join(ckpt, 'epoch-0001', 'model.json')));
    assert.equal((await checkpointWeights(ckpt, 'epoch-0001')).length, reference.length);
  });

  it('a restarted local worker rejoins at a step boundary, gets the state and its shards back, and finds its cache warm', async () => {
    const longer = { trainSamples: 2400, batchSize: 16, epochs: 6 };
    const alone = await runCli(['train', ...job('rejoin-single', longer)], { timeoutMs: 180_000 });
    assert.equal(alone.code, 0, alone.stderr);
    const c = startCli(['coordinator', 'start', '--local-workers', '3', ...job('rejoin', longer)]);
    await c.waitFor(/"msg":"epoch 1\/6"/, 150_000);
    process.kill(workerPid(c, 'local-1'), 'SIGKILL');
    const exit = await c.exit;
    assert.equal(exit.code, 0, c.stderr());
    await noneLeft('rejoin');
    const report = readJson(runPaths(tmp.path, 'rejoin').report);
    const [lost, back] = report.membership;
    assert.deepEqual([lost?.generation, lost?.left[0]?.workerId, lost?.workers], [2, 'local-1', 2], JSON.stringify(report.membership));
    assert.deepEqual([back?.generation, back?.joined, back?.workers], [3, ['local-1'], 3], JSON.stringify(report.membership));
    // its first whole epoch after rejoining reads its own shards from the cache it kept
    const epochs = c
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"msg":"epoch done"') && l.includes('"worker":"local-1"'))
      .map((l) => JSON.parse(l));
    const next = epochs.find((e) => e.epoch > back.epoch);
    assert.ok(next, `an epoch of the rejoined worker after epoch ${back.epoch}`);
    assert.ok(next.cacheHits >= 0.9 * (next.cacheHits + next.cacheMisses), JSON.stringify(next));
    const want = await checkpointWeights(runPaths(tmp.path, 'rejoin-single').checkpointDir);
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, 'rejoin').checkpointDir), want);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
  });

  it('kill -9 of a worker at a FreezeOut boundary advance: the survivors freeze at the same steps and match the uninterrupted run', async () => {
    // 3 epochs of 30 steps, linear t0 = 0.5: dense_1 freezes at step 45, dense_2 at step 67
    const freezing = { trainableLast: undefined, freeze: 'freezeout', k: 2, schedule: 'linear', t0: 0.5 } as const;
    const alone = await runCli(['train', ...job('freeze-single', freezing)], { timeoutMs: 120_000 });
    assert.equal(alone.code, 0, alone.stderr);
    const c = startCli(['coordinator', 'start', '--local-workers', '3', ...job('freeze', freezing)]);
    await c.waitFor(/"msg":"boundary advanced"/, 150_000);
    process.kill(workerPid(c, 'local-1'), 'SIGKILL');
    const exit = await c.exit;
    assert.equal(exit.code, 0, c.stderr());
    await noneLeft('freeze');
    const report = readJson(runPaths(tmp.path, 'freeze').report);
    const single = readJson(runPaths(tmp.path, 'freeze-single').report);
    assert.equal(report.membership[0]?.left[0]?.workerId, 'local-1', JSON.stringify(report.membership));
    const boundaries = (rep: { epochs: { boundary: string }[] }) => rep.epochs.map((e) => e.boundary);
    assert.deepEqual(boundaries(report), boundaries(single));
    const want = await checkpointWeights(runPaths(tmp.path, 'freeze-single').checkpointDir);
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, 'freeze').checkpointDir), want);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
  });
});

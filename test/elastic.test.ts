/**
 * Elastic training with real processes (docs/distributed.md#what-happens-when): a coordinator with
 * 3 local workers loses one (kill -9 in the first epoch's cache fill and mid cached epoch, SIGSTOP)
 * and forms a new generation of the survivors, which roll back to the newest committed step and
 * train on. Each job exits 0, the coordinator's exactly-once and replica checks held every epoch
 * (it fails the job otherwise), the final weights equal the uninterrupted run's, and no process
 * is left. Below cluster.minWorkers the job fails in time, naming the missing worker, and leaves a
 * checkpoint of the last committed step that --resume continues.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import {
  alive,
  checkpointWeights,
  elasticJob,
  type JobFlags,
  localWorkerPid,
  noneNaming,
  type Running,
  readJson,
  relativeDiff,
  runCli,
  runPaths,
  startCli,
  tempDir,
} from './support';

const tmp = tempDir('elastic');

/** how long a job of these tests may take on a loaded machine (other agents share it) */
const LONG_MS = 600_000;

const job = (name: string, flags: Partial<JobFlags> = {}) => elasticJob(tmp.path, name, flags);

/** A job file with the cluster settings a test needs (flags set the rest). */
const cluster = (name: string, settings: Record<string, number>) =>
  tmp.file(
    `${name}.yaml`,
    `model:\n  name: mlp\ndata:\n  dataset: mnist\ncluster:\n${Object.entries(settings)
      .map(([k, v]) => `  ${k}: ${v}\n`)
      .join('')}`,
  );

const workerPid = (c: Running, id: string) => localWorkerPid(c.child.pid as number, id);
const noneLeft = (name: string) => noneNaming(join(tmp.path, name));

describe('elastic training', () => {
  let reference: Float32Array[];

  before(async () => {
    await initEngine('wasm');
    const r = await runCli(['train', ...job('single')], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    reference = await checkpointWeights(runPaths(tmp.path, 'single').checkpointDir);
  });

  /** Runs 3 local workers, kills worker `victim` (local-1) with SIGKILL once `when` is logged, returns the finished job. */
  async function killDuring(name: string, when: RegExp, o: { extra?: string[]; env?: Record<string, string>; victim?: string } = {}) {
    const victim = o.victim ?? 'local-1';
    const c = startCli(['coordinator', 'start', '--local-workers', '3', ...(o.extra ?? []), ...job(name)], o.env, { killAfterMs: LONG_MS });
    await c.waitFor(when, LONG_MS);
    process.kill(workerPid(c, victim), 'SIGKILL');
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
      [victim],
    );
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, name).checkpointDir), reference);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
    assert.match(c.stderr(), /"msg":"membership changed","generation":2/);
    // a survivor's chunk counts cover both generations: every step's collective sends at least one
    // chunk per rank (the last generation alone covers fewer than the job's 90 steps)
    const finished = c
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"msg":"worker finished"'));
    assert.equal(finished.length, 2, 'both survivors finish');
    for (const l of finished) {
      const { sharedChunks, wireChunks } = JSON.parse(l).dataPlane;
      assert.ok(sharedChunks + wireChunks >= 90, `chunks over the job's 90 steps: ${l}`);
    }
    // the epoch of the change is timed from its plan, pause included, over the whole training set
    const changed = report.epochs.find((e: { epoch: number }) => e.epoch === change.epoch);
    assert.ok(changed.seconds >= change.secondsLost, `epoch ${change.epoch}: ${changed.seconds} s, ${change.secondsLost} s lost`);
    assert.ok(Math.abs(changed.samplesPerSec * changed.seconds - 1440) < 1, `epoch ${change.epoch}: ${JSON.stringify(changed)}`);
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

  it('kill -9 of a worker during validation: the next generation redoes the epoch end', async () => {
    // local-1 stands still as its epoch 2 validation begins (test-pause.ts); its peers wait for it in the validation allreduce
    const config = cluster('validation', { collectiveTimeoutMs: 60_000 });
    const { change } = await killDuring('validation', /"msg":"test pause","worker":"local-1"/, {
      extra: ['--config', config],
      env: { PERMAFROST_TEST_PAUSE: 'local-1:validation:2:20000' },
    });
    // every step of epoch 2 had been trained: the survivors resume at its end and validate again
    assert.deepEqual([change.epoch, change.resumeStep], [2, 60]);
  });

  it('kill -9 of rank 0 while it writes a checkpoint: the new rank 0 writes it, nothing half-written is left', async () => {
    const { change } = await killDuring('checkpoint', /"msg":"test pause","worker":"local-0"/, {
      env: { PERMAFROST_TEST_PAUSE: 'local-0:checkpoint:2:20000' },
      victim: 'local-0',
    });
    assert.deepEqual([change.epoch, change.resumeStep], [2, 60]);
    const ckpt = runPaths(tmp.path, 'checkpoint').checkpointDir;
    assert.deepEqual(
      readdirSync(ckpt)
        .filter((f) => f !== 'job.json')
        .sort(),
      ['epoch-0001', 'epoch-0002', 'final', 'latest.json'],
      'every epoch checkpoint, and no interrupted write left',
    );
    assert.equal(readJson(join(ckpt, 'epoch-0002', 'meta.json')).step, 60);
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

  it('below minWorkers with nobody rejoining: exit 1 within rejoinTimeoutMs, naming the missing worker, a checkpoint of the last committed step that --resume continues', async () => {
    const config = cluster('min', { minWorkers: 3, maxRestarts: 0, rejoinTimeoutMs: 3000 });
    const c = startCli(['coordinator', 'start', '--config', config, '--local-workers', '3', ...job('min')], {}, { killAfterMs: LONG_MS });
    await c.waitFor(/"label":"epoch 2\/3","done":\d+/, LONG_MS);
    const t0 = Date.now();
    process.kill(workerPid(c, 'local-1'), 'SIGKILL');
    const exit = await c.exit;
    assert.equal(exit.code, 1, c.stderr());
    assert.ok(exit.at - t0 < 3000 + 5000, `failed after ${exit.at - t0} ms`);
    assert.match(c.stderr(), /permafrost: only 2 of the minimum 3 workers after waiting 3000 ms; missing: local-1 \(/);
    const said = /the last committed step (\d+) is in checkpoint (\S+) \(--resume continues from it\)/.exec(c.stderr());
    assert.ok(said, c.stderr());
    await noneLeft('min');
    // the checkpoint of the newest commit, under the pointer --resume reads, loadable as a model
    const ckpt = runPaths(tmp.path, 'min').checkpointDir;
    const step = Number(said[1]);
    const name = `step-${String(step).padStart(8, '0')}`;
    assert.equal(said[2], join(ckpt, name));
    assert.ok(step > 30 && step <= 60, `committed step ${step} lies in epoch 2`);
    assert.deepEqual(readJson(join(ckpt, 'latest.json')), { checkpoint: name, epoch: 1, step });
    assert.deepEqual([readJson(join(ckpt, name, 'meta.json')).step, readJson(join(ckpt, name, 'meta.json')).epoch], [step, 1]);
    assert.equal((await checkpointWeights(ckpt, name)).length, reference.length);
    // --resume continues epoch 2 at that step and ends with the uninterrupted run's weights
    const again = await runCli(['coordinator', 'start', '--config', config, '--local-workers', '3', '--resume', ...job('min')], {
      timeoutMs: LONG_MS,
    });
    assert.equal(again.code, 0, again.stderr);
    await noneLeft('min');
    const report = readJson(runPaths(tmp.path, 'min').report);
    assert.deepEqual([report.resumedFromEpoch, report.epochs.map((e: { epoch: number }) => e.epoch)], [1, [2, 3]]);
    const d = relativeDiff(await checkpointWeights(ckpt), reference);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
  });

  /** A job long enough for a worker to come back or arrive while it runs: 6 epochs of 150 steps. */
  const longer = { trainSamples: 2400, batchSize: 16, epochs: 6 };
  let longerWeights: Promise<Float32Array[]> | undefined;
  /** The final weights of the uninterrupted run of the longer job (run once, for the tests that need them). */
  const longerReference = () => {
    longerWeights ??= runCli(['train', ...job('longer-single', longer)], { timeoutMs: LONG_MS }).then((alone) => {
      assert.equal(alone.code, 0, alone.stderr);
      return checkpointWeights(runPaths(tmp.path, 'longer-single').checkpointDir);
    });
    return longerWeights;
  };

  it('a restarted local worker rejoins at a step boundary, gets the state and its shards back, and finds its cache warm', async () => {
    const want = await longerReference();
    const c = startCli(['coordinator', 'start', '--local-workers', '3', ...job('rejoin', longer)], {}, { killAfterMs: LONG_MS });
    await c.waitFor(/"msg":"epoch 1\/6"/, LONG_MS);
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

  /** `worker start` of worker `id` for the coordinator at `address`, its cache under run `name`. */
  const workerArgs = (address: string, name: string, id: string) => [
    'worker',
    'start',
    '--insecure',
    '--coordinator',
    address,
    '--id',
    id,
    '--cache-dir',
    join(tmp.path, name, id),
    '--threads',
    '1',
  ];

  /** Starts an --insecure coordinator of 3 local workers (other workers can join it); resolves with it and its address once epoch 1 trains. */
  async function insecureFleet(name: string, settings: Record<string, number>) {
    const config = cluster(name, settings);
    const args = ['coordinator', 'start', '--config', config, '--local-workers', '3', '--insecure', ...job(name, longer)];
    const c = startCli(args, {}, { killAfterMs: LONG_MS });
    const address = JSON.parse(await c.waitFor(/"msg":"coordinator listening"/, LONG_MS)).address as string;
    await c.waitFor(/"label":"epoch 1\/6","done":\d+/, LONG_MS);
    return { c, address };
  }

  it('a new worker id joins a running job up to maxWorkers at a step boundary and trains; one more is refused in one line', async () => {
    const want = await longerReference();
    const { c, address } = await insecureFleet('grow', { maxWorkers: 4 });
    const extra = startCli(workerArgs(address, 'grow', 'extra-0'), {}, { killAfterMs: LONG_MS });
    await c.waitFor(/"msg":"membership changed"[^\n]*"joined":\["extra-0"\]/, LONG_MS);
    const beyond = await runCli(workerArgs(address, 'grow', 'extra-1'), { timeoutMs: 120_000 });
    assert.equal(beyond.code, 1, beyond.stderr);
    assert.match(beyond.stderr, /^permafrost: join refused: the job already has 4 of at most 4 workers$/m);
    const [exit, extraExit] = await Promise.all([c.exit, extra.exit]);
    assert.equal(exit.code, 0, c.stderr());
    assert.equal(extraExit.code, 0, extra.stderr());
    await noneLeft('grow');
    const report = readJson(runPaths(tmp.path, 'grow').report);
    const [grown] = report.membership;
    assert.deepEqual(
      [grown?.generation, grown?.joined, grown?.left, grown?.workers],
      [2, ['extra-0'], [], 4],
      JSON.stringify(report.membership),
    );
    assert.ok(grown.resumeStep > 0, `placed at step ${grown.resumeStep} of a running job`);
    assert.match(extra.stderr(), /"msg":"epoch done","worker":"extra-0"/, 'the new worker trained whole epochs');
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, 'grow').checkpointDir), want);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
  });

  it('a worker lost more than maxWorkerFailures times is excluded: not restarted, its Join refused, said in the log and the report', async () => {
    const want = await longerReference();
    const { c, address } = await insecureFleet('exclude', { maxWorkerFailures: 1 });
    process.kill(workerPid(c, 'local-1'), 'SIGKILL');
    // restarted, it comes back; lost a second time, it is out
    await c.waitFor(/"msg":"membership changed"[^\n]*"joined":\["local-1"\]/, LONG_MS);
    process.kill(workerPid(c, 'local-1'), 'SIGKILL');
    assert.match(await c.waitFor(/"msg":"worker excluded"/, LONG_MS), /"worker":"local-1","failures":2,"maxWorkerFailures":1/);
    await c.waitFor(/"msg":"local worker not restarted","worker":"local-1"/, LONG_MS);
    const again = await runCli(workerArgs(address, 'exclude', 'local-1'), { timeoutMs: 120_000 });
    assert.equal(again.code, 1, again.stderr);
    assert.match(
      again.stderr,
      /^permafrost: join refused: worker local-1 is excluded from job \S+: it was lost 2 times \(cluster\.maxWorkerFailures 1\)$/m,
    );
    const exit = await c.exit;
    assert.equal(exit.code, 0, c.stderr());
    await noneLeft('exclude');
    const report = readJson(runPaths(tmp.path, 'exclude').report);
    const last = report.membership.at(-1);
    assert.deepEqual([last.left.map((l: { workerId: string }) => l.workerId), last.excluded, last.workers], [['local-1'], ['local-1'], 2]);
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, 'exclude').checkpointDir), want);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
  });
});

/**
 * Graceful stop with real processes (docs/deploy.md#stops-drains-and-restarts): what SIGTERM
 * (Kubernetes deleting a pod, draining a node, scaling the workers down) does to a fleet of a
 * coordinator and 3 local workers.
 *
 * The signals land inside an epoch, while one worker is held still after its first step of epoch 2
 * (the PERMAFROST_TEST_PAUSE seam), so no test depends on timing luck.
 *
 *   - SIGTERM to a worker mid-epoch: it leaves after the step it is in (`left the job`), exits 0
 *     and is not restarted; the report's membership entry says it left; the other two form a new
 *     generation at exactly the step it had committed, and the job ends with an uninterrupted
 *     run's weights (the elastic tests' 1e-4 relative).
 *   - SIGTERM to the coordinator mid-epoch: every process is gone within Kubernetes' default grace
 *     period, the coordinator with 143; a `step-NNNNNNNN` checkpoint of the newest commit is under
 *     the pointer, and `--resume` continues from it to the uninterrupted run's weights.
 *   - A second signal during the stop (SIGINT twice; a worker held still by the test seam keeps
 *     the stop waiting for its Halted): the coordinator exits at once with 130, no process left.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { initEngine } from '@permafrost/engine';
import {
  checkpointWeights,
  elasticJob,
  localWorkerPid,
  noneNaming,
  readJson,
  relativeDiff,
  runCli,
  runPaths,
  startCli,
  tempDir,
} from './support';

const tmp = tempDir('graceful-stop');

/** how long a job of these tests may take on a loaded machine (other agents share it) */
const LONG_MS = 600_000;
/** Kubernetes' default terminationGracePeriodSeconds: a stopped coordinator and its workers are gone before it */
const GRACE_MS = 30_000;
/** 1440 samples in global batches of 48 */
const STEPS = 30;
/** the test seam (libs/worker test-pause.ts): `worker` stands still after its first step of epoch 2, a moment inside the epoch */
const pauseInEpoch2 = (worker: string, ms: number) => ({ PERMAFROST_TEST_PAUSE: `${worker}:step:2:${ms}` });
const paused = (worker: string) => new RegExp(`"msg":"test pause","worker":"${worker}"`);

const job = (name: string) => elasticJob(tmp.path, name);
const fleet = (name: string, env: Record<string, string> = {}) =>
  startCli(['coordinator', 'start', '--local-workers', '3', ...job(name)], env, { killAfterMs: LONG_MS });
const noneLeft = (name: string) => noneNaming(join(tmp.path, name));

/** The JSON log lines of `stderr` whose message is `msg`. */
const lines = (stderr: string, msg: string) =>
  stderr
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('graceful stop', () => {
  let reference: Float32Array[];

  before(async () => {
    await initEngine('wasm');
    const r = await runCli(['train', ...job('single')], { timeoutMs: LONG_MS });
    assert.equal(r.code, 0, r.stderr);
    reference = await checkpointWeights(runPaths(tmp.path, 'single').checkpointDir);
  });

  it('SIGTERM to a worker: it leaves at its next step boundary and exits 0; the others go on and end with the same weights', async (t: TestContext) => {
    // the signal arrives while local-1 stands still after step 31; it leaves at a step boundary after it
    const c = fleet('worker', pauseInEpoch2('local-1', 1000));
    await c.waitFor(paused('local-1'), LONG_MS);
    process.kill(localWorkerPid(c.child.pid as number, 'local-1'), 'SIGTERM');
    const exit = await c.exit;
    assert.equal(exit.code, 0, c.stderr());
    await noneLeft('worker');
    const err = c.stderr();
    const [left, ...again] = lines(err, 'left the job').filter((l) => l.worker === 'local-1');
    assert.ok(left && again.length === 0, 'one "left the job" line of local-1');
    // exited once, with 0: not restarted
    const exited = lines(err, 'local worker exited').filter((l) => l.index === 1);
    assert.deepEqual(
      exited.map((l) => [l.code, l.signal]),
      [[0, null]],
      JSON.stringify(exited),
    );
    assert.equal(lines(err, 'worker finished').find((l) => l.worker === 'local-1')?.stopped, true);
    const report = readJson(runPaths(tmp.path, 'worker').report);
    assert.equal(report.epochs.length, 3);
    const [change, ...more] = report.membership;
    t.diagnostic(`membership change: ${JSON.stringify(change)}; local-1 left after step ${left.committedStep}`);
    // nobody else leaves or joins (a further regroup of the same two workers at the same step,
    // seen once in a dozen runs on a loaded machine, changes nothing; it is shown with its cause)
    if (more.length > 0) t.diagnostic(`further changes: ${JSON.stringify([...lines(err, 'membership changed'), ...lines(err, 'halted')])}`);
    for (const m of more) assert.deepEqual([m.workers, m.left, m.joined], [2, [], []], JSON.stringify(report.membership));
    assert.deepEqual(
      [change?.generation, change?.workers, change?.left, change?.excluded],
      [2, 2, [{ workerId: 'local-1', reason: 'left: stopped (SIGTERM)' }], []],
    );
    // the survivors resume at the step it left after: only the step in flight is trained again
    assert.equal(change.resumeStep, left.committedStep);
    assert.ok(change.resumeStep > STEPS + 1 && change.resumeStep < 2 * STEPS, `left after step ${change.resumeStep}, inside epoch 2`);
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, 'worker').checkpointDir), reference);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
  });

  it('SIGTERM to the coordinator: a checkpoint of the newest commit, every process gone (143) within the grace period, --resume ends with the same weights', async (t: TestContext) => {
    // the signal arrives while local-0 stands still after step 31 and its peers wait for it
    const c = fleet('coord', pauseInEpoch2('local-0', 2000));
    await c.waitFor(paused('local-0'), LONG_MS);
    const t0 = Date.now();
    process.kill(c.child.pid as number, 'SIGTERM');
    const exit = await c.exit;
    assert.equal(exit.code, 143, c.stderr());
    await noneLeft('coord');
    const gone = Date.now() - t0;
    assert.ok(gone < GRACE_MS, `every process gone ${gone} ms after SIGTERM`);
    const said =
      /^permafrost: the coordinator was stopped \(SIGTERM\); the last committed step (\d+) is in checkpoint (\S+) \(--resume continues from it\)$/m.exec(
        c.stderr(),
      );
    assert.ok(said, c.stderr());
    const step = Number(said[1]);
    t.diagnostic(`checkpoint of step ${step}; every process gone ${gone} ms after SIGTERM`);
    assert.ok(step > STEPS && step < 2 * STEPS, `checkpoint of step ${step}, inside epoch 2`);
    const ckpt = runPaths(tmp.path, 'coord').checkpointDir;
    const name = `step-${String(step).padStart(8, '0')}`;
    assert.equal(said[2], join(ckpt, name));
    // epochs whose end is done: a commit at an epoch's last step resumes into that epoch's end
    const completed = Math.floor((step - 1) / STEPS);
    assert.deepEqual(readJson(join(ckpt, 'latest.json')), { checkpoint: name, epoch: completed, step });
    assert.equal(readJson(join(ckpt, name, 'meta.json')).step, step);

    const resumed = await runCli(['coordinator', 'start', '--local-workers', '3', '--resume', ...job('coord')], { timeoutMs: LONG_MS });
    assert.equal(resumed.code, 0, resumed.stderr);
    await noneLeft('coord');
    const report = readJson(runPaths(tmp.path, 'coord').report);
    assert.deepEqual(
      [report.resumedFromEpoch, report.epochs.map((e: { epoch: number }) => e.epoch)],
      [completed, [1, 2, 3].filter((e) => e > completed)],
    );
    assert.ok(existsSync(join(ckpt, 'final', 'model.json')));
    const d = relativeDiff(await checkpointWeights(ckpt), reference);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
  });

  it('a second signal during the stop exits at once (SIGINT twice: 130), killing the local workers', async () => {
    // local-0 stands still inside epoch 2: the stop waits for its Halted
    const c = fleet('twice', pauseInEpoch2('local-0', 20_000));
    await c.waitFor(paused('local-0'), LONG_MS);
    process.kill(c.child.pid as number, 'SIGINT');
    await c.waitFor(/"msg":"stop requested"/, 10_000);
    const t0 = Date.now();
    process.kill(c.child.pid as number, 'SIGINT');
    const exit = await c.exit;
    assert.equal(exit.code, 130, c.stderr());
    assert.ok(exit.at - t0 < 5000, `exited ${exit.at - t0} ms after the second SIGINT`);
    assert.match(c.stderr(), /"msg":"stopping at once","signal":"SIGINT","stopping":"SIGINT"/);
    await noneLeft('twice');
    const ckpt = runPaths(tmp.path, 'twice').checkpointDir;
    assert.deepEqual(
      readdirSync(ckpt).filter((f) => f.startsWith('step-')),
      [],
      'no checkpoint of a stop that did not finish',
    );
  });
});

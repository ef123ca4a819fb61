/**
 * Losing the coordinator (docs/distributed.md#losing-the-coordinator), with real processes on
 * loopback: two workers started as their own `worker start` processes (certs init material, as a
 * fleet runs them) lose their coordinator to kill -9 mid-epoch. Restarted with `--resume` on the
 * same address, the coordinator takes the same worker processes back at their newest committed
 * step; the job ends with the weights of an uninterrupted run, its exactly-once and replica checks
 * holding every epoch (it fails the job otherwise). Workers whose coordinator never comes back
 * exit once cluster.coordinatorGraceMs has passed, saying so.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import {
  alive,
  checkpointWeights,
  childrenOf,
  elasticJob,
  type Running,
  readJson,
  relativeDiff,
  runCli,
  runPaths,
  startCli,
  tempDir,
} from './support';

const tmp = tempDir('coordinator-loss');

// batch 8, 180 steps per epoch: long enough that the kill usually lands mid-epoch
const job = (name: string) => elasticJob(tmp.path, name, { batchSize: 8 });

/** A `worker start` process of run `name`, one XNNPACK thread (two share this host). */
const worker = (name: string, id: string, address: string, extra: string[] = []) =>
  startCli(['worker', 'start', '--coordinator', address, '--id', id, '--cache-dir', join(tmp.path, name, id), '--threads', '1', ...extra]);

const started: Running[] = [];
const start = (r: Running) => {
  started.push(r);
  return r;
};

describe('losing the coordinator', () => {
  let reference: Float32Array[];

  before(async () => {
    await initEngine('wasm');
    const r = await runCli(['train', ...job('single')], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    reference = await checkpointWeights(runPaths(tmp.path, 'single').checkpointDir);
  });

  after(async () => {
    for (const r of started) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await Promise.all(started.map((r) => r.exit));
  });

  it('kill -9 of the coordinator, restarted with --resume: the same workers go on from their commits, same weights', async (t) => {
    const flags = ['--min-workers', '2', ...job('takeover')];
    const first = start(startCli(['coordinator', 'start', '--listen', '127.0.0.1:0', ...flags]));
    const address = JSON.parse(await first.waitFor(/coordinator listening/)).address as string;
    const workers = ['w-a', 'w-b'].map((id) => start(worker('takeover', id, address)));
    const pids = workers.map((w) => w.child.pid as number);
    await first.waitFor(/"label":"epoch 2\/3","done":\d+/, 120_000);
    first.child.kill('SIGKILL');
    await first.exit;
    for (const w of workers) await w.waitFor(/"msg":"coordinator lost; waiting for it to come back"/, 30_000);

    const second = start(startCli(['coordinator', 'start', '--listen', address, '--resume', ...flags]));
    const exit = await second.exit;
    assert.equal(exit.code, 0, second.stderr());
    for (const [i, w] of workers.entries()) {
      const e = await w.exit;
      assert.equal(e.code, 0, w.stderr());
      assert.match(w.stderr(), /"msg":"rejoined the coordinator"/);
      assert.equal(w.child.pid, pids[i]);
    }
    // the takeover is one membership change: both workers back, training from a committed step of epoch 2 or later
    const report = readJson(runPaths(tmp.path, 'takeover').report);
    const change = report.membership[0];
    assert.deepEqual(change?.joined, ['w-a', 'w-b'], JSON.stringify(report.membership));
    assert.ok(change.generation >= 2, `generation ${change.generation}`);
    assert.ok(change.resumeStep > 180, `resumed at step ${change.resumeStep} (180 steps per epoch)`);
    assert.match(second.stderr(), /"msg":"membership changed".*"why":"a restarted coordinator took the workers back/);
    // every epoch the restarted coordinator saw trained the training set (its exactly-once check passed too)
    assert.equal(report.epochs.at(-1)?.epoch, 3);
    for (const e of report.epochs)
      assert.equal(
        e.samplesByRank.reduce((a: number, b: number) => a + b, 0),
        1440,
        `epoch ${e.epoch}`,
      );
    // the caches stayed warm: the last epoch reads every sample from them
    assert.equal(report.epochs.at(-1)?.cacheMisses, 0, JSON.stringify(report.epochs.at(-1)));
    const jobIds = [first, second].map(
      (c) =>
        JSON.parse(
          c
            .stderr()
            .split('\n')
            .find((l) => l.includes('coordinator listening')) ?? '{}',
        ).jobId,
    );
    assert.equal(jobIds[0], jobIds[1], 'the restarted coordinator runs the job id of the first');
    const d = relativeDiff(await checkpointWeights(runPaths(tmp.path, 'takeover').checkpointDir), reference);
    assert.ok(d < 1e-4, `relative weight difference to the uninterrupted run: ${d}`);
    const away = workers.map(
      (w) =>
        JSON.parse(
          w
            .stderr()
            .split('\n')
            .find((l) => l.includes('"msg":"rejoined the coordinator"')) ?? '{}',
        ).secondsAway,
    );
    t.diagnostic(
      `resumed at step ${change.resumeStep}, workers away ${away.join(', ')} s, relative weight difference ${d.toExponential(2)}`,
    );
  });

  it('local workers, children of the coordinator, run without a grace and exit when it is killed', async () => {
    const c = start(startCli(['coordinator', 'start', '--local-workers', '2', ...job('locals')]));
    await c.waitFor(/"msg":"progress"/, 120_000);
    const workers = childrenOf(c.child.pid as number, / worker start /);
    assert.equal(workers.length, 2, `worker processes: ${workers}`);
    for (const pid of workers) {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      assert.equal(args[args.indexOf('--coordinator-grace-ms') + 1], '0', args.join(' '));
    }
    c.child.kill('SIGKILL');
    for (let i = 0; i < 100 && workers.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(workers.filter(alive), [], 'local workers outlived their coordinator');
  });

  it('workers whose coordinator never comes back exit after cluster.coordinatorGraceMs, saying so', async () => {
    const graceMs = 3000;
    const c = start(startCli(['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '1', ...job('gone')]));
    const address = JSON.parse(await c.waitFor(/coordinator listening/)).address as string;
    const w = start(worker('gone', 'w-lone', address, ['--coordinator-grace-ms', String(graceMs)]));
    await c.waitFor(/"msg":"progress"/, 120_000);
    const t0 = Date.now();
    c.child.kill('SIGKILL');
    await w.waitFor(/"msg":"coordinator lost; waiting for it to come back"/, 10_000);
    assert.ok(alive(w.child.pid as number), 'the worker waits for its coordinator');
    const exit = await w.exit;
    assert.equal(exit.code, 1, w.stderr());
    assert.ok(exit.at - t0 >= graceMs, `exited after ${exit.at - t0} ms, before the grace`);
    assert.ok(exit.at - t0 < graceMs + 10_000, `exited after ${exit.at - t0} ms`);
    assert.match(
      w.stderr(),
      /permafrost: lost the coordinator at [^:]+:\d+: .*; it did not come back within cluster.coordinatorGraceMs \(3000 ms\)/,
    );
    assert.ok(existsSync(join(runPaths(tmp.path, 'gone').checkpointDir, 'job.json')), 'the job id is recorded for a restart');
  });
});

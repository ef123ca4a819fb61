/**
 * Failures that end a job: a dead worker the job cannot do without (test/elastic.test.ts has the
 * ones it survives), a lost coordinator and bad messages end the job cleanly within bounded time
 * and leave no processes behind.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { JoinRequestSchema, SessionRequestSchema } from '@permafrost/proto';
import { createCoordinatorClient } from '@permafrost/transport-grpc';
import { alive, childrenOf, type JobFlags, jobFlags, runCli, runPaths, startCli, tempDir, testTls } from './support';

const tmp = tempDir('dist-fail');

const slowJob = (name: string, flags: Partial<JobFlags> = {}) => {
  const { cacheDir, checkpointDir } = runPaths(tmp.path, name);
  return jobFlags({
    model: 'mobilenet_v2',
    inputSize: 32,
    trainSamples: 2000,
    valSamples: 16,
    epochs: 3,
    batchSize: 16,
    cacheDir,
    checkpointDir,
    ...flags,
  });
};

describe('distributed failures', () => {
  it('kill -9 of a worker when every worker is needed (minWorkers = workers, no restarts): the job stops within 10 s naming it, no orphans', async () => {
    const config = tmp.file(
      'all-needed.yaml',
      'model:\n  name: mobilenet_v2\ndata:\n  dataset: mnist\ncluster:\n  minWorkers: 2\n  maxRestarts: 0\n  rejoinTimeoutMs: 1000\n',
    );
    const c = startCli(['coordinator', 'start', '--config', config, '--local-workers', '2', ...slowJob('kill')]);
    await c.waitFor(/"msg":"progress"/, 90_000);
    // the worker processes (tsx may also run an esbuild service beside them while it compiles)
    const workers = childrenOf(c.child.pid as number, / worker start /);
    assert.equal(workers.length, 2, `worker processes: ${workers}`);
    // two workers on one host collect garbage on their own threads (see coordinator.ts)
    for (const pid of workers) assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /--single-threaded-gc/);
    const t0 = Date.now();
    process.kill(workers[1] as number, 'SIGKILL');
    const exit = await c.exit;
    assert.ok(exit.at - t0 < 10_000, `stopped after ${exit.at - t0} ms`);
    assert.notEqual(exit.code, 0);
    // whichever the coordinator sees first names it: the dropped connection or the child's exit
    assert.match(
      c.stderr(),
      /permafrost: only 1 of the minimum 2 workers after waiting 1000 ms; missing: local-1 \((disconnected|exited \(SIGKILL\))/,
    );
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} still running`);
  });

  it('a lone worker busy for longer than the heartbeat timeout still heartbeats', async () => {
    // 100 ms heartbeats, lost after 1 s of silence: the first epoch (prefix over 1,500 samples, 2-7 s) takes longer
    const timeoutMs = 1000;
    const config = tmp.file(
      'fast-heartbeat.yaml',
      `model:\n  name: mobilenet_v2\ndata:\n  dataset: mnist\ncluster:\n  heartbeatMs: 100\n  heartbeatTimeoutMs: ${timeoutMs}\n`,
    );
    const r = await runCli(
      ['coordinator', 'start', '--config', config, '--local-workers', '1', ...slowJob('busy', { trainSamples: 1500, epochs: 1 })],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const epoch = r.stderr.split('\n').find((l) => l.includes('"msg":"epoch 1/1"'));
    assert.ok(epoch && JSON.parse(epoch).seconds > timeoutMs / 1000, `the epoch outlasted the heartbeat timeout: ${epoch}`);
  });

  it('a worker without a grace for its coordinator (--coordinator-grace-ms 0) that loses it exits within 10 s with a clear error', async () => {
    const c = startCli(['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '1', ...slowJob('lost')]);
    const line = await c.waitFor(/coordinator listening/);
    const address = JSON.parse(line).address as string;
    const lonely = ['--id', 'lonely', '--cache-dir', join(tmp.path, 'lost', 'w'), '--coordinator-grace-ms', '0'];
    const w = startCli(['worker', 'start', '--coordinator', address, ...lonely]);
    await c.waitFor(/"msg":"progress"/, 90_000);
    const t0 = Date.now();
    c.child.kill('SIGKILL');
    const exit = await w.exit;
    assert.ok(exit.at - t0 < 10_000, `worker exited after ${exit.at - t0} ms`);
    assert.notEqual(exit.code, 0);
    assert.match(w.stderr(), /permafrost: lost the coordinator/);
  });

  it('a worker whose coordinator stops answering (SIGSTOP), without a grace, exits within the heartbeat timeout', async () => {
    const config = tmp.file(
      'stop.yaml',
      'model:\n  name: mobilenet_v2\ndata:\n  dataset: mnist\ncluster:\n  heartbeatMs: 200\n  heartbeatTimeoutMs: 3000\n',
    );
    const c = startCli(['coordinator', 'start', '--config', config, '--listen', '127.0.0.1:0', '--min-workers', '1', ...slowJob('stop')]);
    try {
      const address = JSON.parse(await c.waitFor(/coordinator listening/)).address as string;
      const orphan = ['--id', 'orphan', '--cache-dir', join(tmp.path, 'stop', 'w'), '--coordinator-grace-ms', '0'];
      const w = startCli(['worker', 'start', '--coordinator', address, ...orphan]);
      await c.waitFor(/"msg":"progress"/, 90_000);
      const t0 = Date.now();
      c.child.kill('SIGSTOP');
      const exit = await w.exit;
      assert.ok(exit.at - t0 < 3000 + 5000, `worker exited after ${exit.at - t0} ms`);
      assert.notEqual(exit.code, 0);
      assert.match(w.stderr(), /permafrost: lost the coordinator at .*: it stopped answering \(nothing for \d+ ms\)/);
    } finally {
      c.child.kill('SIGKILL');
      c.child.kill('SIGCONT');
      await c.exit;
    }
  });

  it('rejects session messages from a wrong generation or an unknown worker', async () => {
    const c = startCli(['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '1', ...slowJob('proto')]);
    try {
      const address = JSON.parse(await c.waitFor(/coordinator listening/)).address as string;
      const client = createCoordinatorClient(address, { tls: testTls('worker-7') });
      const joined = await client.join(create(JoinRequestSchema, { workerId: 'w-raw', peerAddress: '127.0.0.1:1', backend: 'test' }), 5000);
      assert.equal(joined.rank, 0);
      assert.equal(joined.membership?.generation, 1n);
      const closed = (membership: { generation: bigint; jobId: string }, workerId: string) =>
        new Promise<Error | undefined>((done) => {
          const s = client.session();
          s.onClose(done);
          s.send(create(SessionRequestSchema, { membership, workerId, event: { case: 'hello', value: {} } }));
        });
      const jobId = joined.membership?.jobId ?? '';
      const stale = await closed({ generation: 7n, jobId }, 'w-raw');
      assert.match(String(stale), /generation 7 is not the current generation 1/);
      const stranger = await closed({ generation: 1n, jobId }, 'w-nobody');
      assert.match(String(stranger), /unknown worker 'w-nobody'/);
      client.close();
    } finally {
      c.child.kill('SIGKILL');
      await c.exit;
    }
  });
});

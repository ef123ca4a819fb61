/**
 * `permafrost status` against a running coordinator's HTTP port: --watch --json prints one view
 * per change, and the views show the job progressing to its end; a single --json view parses;
 * the text view names the state and the epoch; a bad or silent address is one line. Over the
 * control port (--grpc, a tool certificate of the job CA), --watch follows the Watch stream to the
 * job's end, and a watch stopped with SIGINT closes its stream on the coordinator.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, freePort, jobFlags, ROOT, runCli, startCli, tempDir, testTls, until } from './support';

const tmp = tempDir('observe-status');
// on a loaded shared machine these jobs take minutes; the limits only stop a hung run
const LIMIT_MS = 400_000;
// 1024 samples in batches of 8: 128 steps per epoch, several seconds of training
const job = jobFlags({
  model: 'mlp',
  inputSize: 10,
  trainSamples: 1024,
  valSamples: 32,
  epochs: 3,
  batchSize: 8,
  cacheDir: join(tmp.path, 'cache'),
});

describe('permafrost status', () => {
  it('--watch shows progress changing until the job ends; --json parses', async () => {
    const http = `127.0.0.1:${await freePort()}`;
    const coord = startCli(
      ['coordinator', 'start', '--local-workers', '1', '--http', http, '--linger-ms', '3000', ...job],
      {},
      { killAfterMs: LIMIT_MS },
    );
    try {
      await coord.waitFor(/"msg":"http listening"/, 120_000);
      // the watch starts while the worker is still joining (building its model takes seconds)
      const watching = runCli(['status', '--coordinator', http, '--watch', '--json', '--interval-ms', '200'], { timeoutMs: LIMIT_MS });
      const [once, text] = await Promise.all([
        runCli(['status', '--coordinator', http, '--json'], { timeoutMs: LIMIT_MS }),
        runCli(['status', '--coordinator', http], { timeoutMs: LIMIT_MS }),
      ]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^job \S+ {2}(joining|running|finished) /m);
      assert.match(text.stdout, /^epoch \d\/3 {2}step \d+\/128 /m);
      assert.equal(once.code, 0, once.stderr);
      const first = JSON.parse(once.stdout);
      assert.equal(first.source, 'live');
      assert.equal(first.totalSteps, 3 * 128);
      const watch = await watching;
      assert.equal(watch.code, 0, watch.stderr);
      const { last } = watchedToEnd(watch.stdout);
      assert.equal(last.workers.length, 1);
      assert.equal((await coord.exit).code, 0, coord.stderr());
    } finally {
      coord.child.kill('SIGKILL');
      await coord.exit;
    }
  });

  it('--grpc --watch follows the Watch stream to the end; --json lines parse; SIGINT closes the stream', async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const coord = startCli(['coordinator', 'start', '--listen', listen, '--min-workers', '1', ...job], {}, { killAfterMs: LIMIT_MS });
    const tool = testTls('tool');
    const grpc = ['status', '--coordinator', listen, '--grpc', '--tls-ca', tool.ca, '--tls-cert', tool.cert, '--tls-key', tool.key];
    let worker: ReturnType<typeof startCli> | undefined;
    let stopped: ReturnType<typeof startStatus> | undefined;
    try {
      await coord.waitFor(/"msg":"coordinator listening"/, 120_000);
      // both watches start while the job is still waiting for its worker
      stopped = startStatus([...grpc, '--watch']);
      const watching = runCli([...grpc, '--watch', '--json'], { timeoutMs: LIMIT_MS });
      await coord.waitFor(/"msg":"watch started".*"watchers":2/, LIMIT_MS);
      worker = startCli(
        ['worker', 'start', '--coordinator', listen, '--id', 'w-0', '--cache-dir', join(tmp.path, 'grpc-cache')],
        {},
        { killAfterMs: LIMIT_MS },
      );
      // the text watch is stopped with SIGINT once it has shown training under way
      const text = stopped;
      await until(
        'the text watch shows training',
        async () => /^epoch \d\/3 {2}step [1-9]\d*\/128 /m.test(text.stdout()) || undefined,
        120_000,
      );
      text.child.kill('SIGINT');
      assert.equal(await text.exit, 0, text.stderr());
      await coord.waitFor(/"msg":"watch ended".*"watchers":1/, 120_000);
      const watch = await watching;
      assert.equal(watch.code, 0, watch.stderr);
      const { first, last } = watchedToEnd(watch.stdout);
      assert.equal(first.state, 'joining');
      assert.deepEqual(
        last.workers.map((w: { workerId: string }) => w.workerId),
        ['w-0'],
      );
      assert.equal((await coord.exit).code, 0, coord.stderr());
    } finally {
      stopped?.child.kill('SIGKILL');
      worker?.child.kill('SIGKILL');
      coord.child.kill('SIGKILL');
      await Promise.all([coord.exit, worker?.exit, stopped?.exit]);
    }
  });

  it('a bad or silent address is reported in one line', async () => {
    const bad = await runCli(['status', '--coordinator', 'nowhere']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^permafrost: --coordinator: expected HOST:PORT, got 'nowhere'/m);
    const silent = await runCli(['status', '--coordinator', `127.0.0.1:${await freePort()}`]);
    assert.equal(silent.code, 1);
    assert.match(silent.stderr, /^permafrost: no coordinator answers at http:\/\/127\.0\.0\.1:\d+\/api\/status \(ECONNREFUSED\)$/m);
  });
});

/** The JSON views a `--watch --json` printed: each parses, the steps advance while training and never go back, the last is the end. */
function watchedToEnd(stdout: string) {
  const views = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const steps = views.map((v) => v.globalStep as number);
  assert.ok(new Set(steps.filter((s) => s > 0 && s < 3 * 128)).size >= 2, `progress seen while training: ${steps.join(' ')}`);
  assert.deepEqual(
    steps,
    [...steps].sort((a, b) => a - b),
    'steps never go back',
  );
  const last = views.at(-1);
  assert.equal(last.state, 'finished');
  assert.equal(last.globalStep, 3 * 128);
  assert.equal(last.epochPoints.length, 3);
  return { first: views[0], last };
}

/** `permafrost status ...args` as a child whose output the test reads while it runs. */
function startStatus(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, PERMAFROST_LOG: 'info' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return { child, exit, stdout: () => out, stderr: () => err };
}

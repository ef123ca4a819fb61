/**
 * `permafrost status` against a running coordinator's HTTP port: --watch --json prints one view
 * per change, and the views show the job progressing to its end; a single --json view parses;
 * the text view names the state and the epoch; a bad or silent address is one line.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, jobFlags, runCli, startCli, tempDir } from './support';

const tmp = tempDir('observe-status');
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
    const coord = startCli(['coordinator', 'start', '--local-workers', '1', '--http', http, '--linger-ms', '3000', ...job]);
    try {
      await coord.waitFor(/"msg":"http listening"/);
      // the watch starts while the worker is still joining (building its model takes seconds)
      const watching = runCli(['status', '--coordinator', http, '--watch', '--json', '--interval-ms', '200'], { timeoutMs: 170_000 });
      const [once, text] = await Promise.all([
        runCli(['status', '--coordinator', http, '--json'], { timeoutMs: 120_000 }),
        runCli(['status', '--coordinator', http], { timeoutMs: 120_000 }),
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
      const views = watch.stdout
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
      assert.equal(last.workers.length, 1);
      assert.equal((await coord.exit).code, 0, coord.stderr());
    } finally {
      coord.child.kill('SIGKILL');
      await coord.exit;
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

/**
 * The coordinator's and a worker's /metrics scraped by a real Prometheus server (Debian's
 * `prometheus`, every second, on loopback) while a small job trains: afterwards its query API
 * shows permafrost_train_steps_total rising from 0 to exactly the steps trained on both targets,
 * and `promtool check metrics` accepts both scrapes. The ports linger after the job
 * (--linger-ms) so the final values are scraped. /healthz answers 200 while the job is fine.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, get, jobFlags, PROMETHEUS, PROMTOOL, startCli, startPrometheus, tempDir, toolOrSkip, until } from './support';

const tmp = tempDir('observe-prometheus');
// 256 samples in batches of 16: 16 steps per epoch, 2 epochs
const STEPS = 32;
const job = jobFlags({
  model: 'mlp',
  inputSize: 10,
  trainSamples: 256,
  valSamples: 32,
  epochs: 2,
  batchSize: 16,
  cacheDir: join(tmp.path, 'cache'),
});

function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('prometheus scrapes the coordinator and a worker', () => {
  it('counts exactly the steps trained, and promtool accepts the scrapes', async (t) => {
    if (!toolOrSkip(PROMETHEUS, t) || !toolOrSkip(PROMTOOL, t)) return;
    const coordHttp = `127.0.0.1:${await freePort()}`;
    const workerHttp = `127.0.0.1:${await freePort()}`;
    const prom = await startPrometheus(join(tmp.path, 'prometheus'), [coordHttp, workerHttp]);
    const coord = startCli([
      'coordinator',
      'start',
      '--listen',
      '127.0.0.1:0',
      '--min-workers',
      '1',
      '--http',
      coordHttp,
      '--linger-ms',
      '6000',
      ...job,
    ]);
    let worker: ReturnType<typeof startCli> | undefined;
    try {
      const listening = JSON.parse(await coord.waitFor(/coordinator listening/, 120_000)).address as string;
      const health = await get(`http://${coordHttp}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(JSON.parse(health.body).state, 'joining');
      const args = ['worker', 'start', '--coordinator', listening, '--id', 'w0', '--cache-dir', join(tmp.path, 'w0')];
      worker = startCli([...args, '--http', workerHttp, '--linger-ms', '6000']);
      // a worker starts in seconds, but minutes on a loaded shared machine: the limit only stops a hung one
      await until('worker healthy', async () => ((await get(`http://${workerHttp}/healthz`)).status === 200 ? true : undefined), 150_000);
      await coord.waitFor(/"msg":"http lingering"/, 120_000);
      // both scrapes while lingering: the final values, in a format promtool accepts
      for (const target of [coordHttp, workerHttp]) {
        const m = await get(`http://${target}/metrics`);
        assert.match(m.type, /^text\/plain; version=0\.0\.4/);
        assert.match(m.body, new RegExp(`^permafrost_train_steps_total ${STEPS}$`, 'm'), target);
        const check = promtoolCheck(m.body);
        assert.equal(check.status, 0, `promtool check metrics on ${target}: ${check.output}`);
      }
      const final = await until(
        'prometheus has scraped the final values',
        async () => {
          const v = await prom.query('permafrost_train_steps_total');
          return v.get(coordHttp) === STEPS && v.get(workerHttp) === STEPS ? v : undefined;
        },
        15_000,
      );
      assert.equal(final.size, 2);
      const low = await prom.query('min_over_time(permafrost_train_steps_total[10m])');
      assert.equal(low.get(coordHttp), 0, 'scraped before training started');
      const rise = await prom.query('max_over_time(permafrost_train_steps_total[10m]) - min_over_time(permafrost_train_steps_total[10m])');
      assert.equal(rise.get(coordHttp), STEPS);
      const up = await prom.query('up');
      assert.equal(up.get(coordHttp), 1);
      assert.equal(up.get(workerHttp), 1);
      const workers = await prom.query('permafrost_workers');
      assert.equal(workers.get(coordHttp), 1);
      const samples = await prom.query('sum by (instance) (permafrost_train_samples_total)');
      assert.equal(samples.get(coordHttp), 2 * 256);
      assert.equal(samples.get(workerHttp), 2 * 256);
      assert.equal((await coord.exit).code, 0, coord.stderr());
      assert.equal((await worker.exit).code, 0, worker.stderr());
    } finally {
      coord.child.kill('SIGKILL');
      worker?.child.kill('SIGKILL');
      await Promise.all([coord.exit, worker?.exit]);
      await prom.stop();
    }
  });
});

/**
 * The image and a fleet in containers, for real (`npm run test:containers`, root and podman
 * needed): builds deploy/Containerfile on a base image made offline, runs `permafrost --help` and
 * the quick-start job with no volume, then a coordinator and 3 workers as separate containers on
 * a podman network, each worker with its own volume: separate network and PID namespaces, as
 * separate hosts, so every gradient chunk goes over TCP between containers (wireChunks > 0, no
 * shared memory). Everything it creates (containers, network, volumes, images, iptables chains)
 * is removed at the end. Then one worker is killed mid-job (SIGKILL) and started again on its
 * volume while the network's DNS answers nothing for 30 s: the fleet continues without it, takes
 * it back at a step boundary once the peers can dial it, and its epochs after the restart read
 * every activation from its cache. PERMAFROST_CONTAINER_BASE=TAG reuses a base image instead of making one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ROOT, tempDir } from '../support';
import { buildBaseImage } from './base-image';
import { type Fleet, resumeDns, silenceDns, startFleet, workerStats } from './fleet';
import { type Podman, podman, podmanVersion } from './podman';

const tmp = tempDir('containers');
const id = randomBytes(3).toString('hex');
const image = `localhost/permafrost-test:${id}`;
// PERMAFROST_REQUIRE_TOOLS=1 (CI): a missing tool fails the test instead of skipping it
const missing = process.getuid?.() !== 0 || !podmanVersion();
const skip =
  missing && process.env.PERMAFROST_REQUIRE_TOOLS !== '1' ? 'needs root and podman (CI installs podman, runc, mmdebstrap)' : false;

describe('the container image', { skip }, () => {
  let p: Podman;

  before(async () => {
    p = podman(tmp.path);
    let base = process.env.PERMAFROST_CONTAINER_BASE;
    if (!base) {
      base = `localhost/permafrost-test-base:${id}`;
      const t0 = Date.now();
      await buildBaseImage(p, tmp.path, base);
      console.log(`base image ${base} made in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    const t0 = Date.now();
    const args = ['build', '--file', 'deploy/Containerfile', '--build-arg', `BASE_IMAGE=${base}`, '--tag', image, ROOT];
    p.created('image', image);
    await p.ok(args, 1_200_000);
    const bytes = Number(await p.ok(['image', 'inspect', '--format', '{{.Size}}', image]));
    console.log(`image ${image}: built in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${(bytes / 2 ** 20).toFixed(0)} MiB`);
  });

  after(async () => {
    resumeDns();
    await p?.cleanup();
  });

  it('runs permafrost --help as a non-root user under tini', async () => {
    const help = await p.ok(['run', '--rm', image, '--help']);
    assert.match(help, /coordinator/);
    const config = await p.ok(['image', 'inspect', '--format', '{{json .Config.Entrypoint}} {{.Config.User}}', image]);
    assert.equal(config, '["tini","--","permafrost"] 10001:10001');
  });

  it('passes SIGTERM to permafrost (tini as PID 1), which exits at once', async () => {
    const name = `permafrost-test-term-${id}`;
    p.created('container', name);
    await p.ok([
      'run',
      '--detach',
      '--name',
      name,
      image,
      'coordinator',
      'start',
      '--min-workers',
      '1',
      '--model',
      'mlp',
      '--input-size',
      '14',
    ]);
    const t0 = Date.now();
    await p.ok(['stop', '--time', '30', name]);
    const code = await p.ok(['inspect', '--format', '{{.State.ExitCode}}', name]);
    assert.ok(Date.now() - t0 < 15_000, `stopped after ${Date.now() - t0} ms`);
    assert.equal(code, '143');
  });

  it('runs the quick-start job (bundled MobileNetV2 and MNIST) with no volume', async (t: TestContext) => {
    const name = `permafrost-test-quick-${id}`;
    p.created('container', name);
    const quick = ['--train-samples', '256', '--val-samples', '64', '--epochs', '1'];
    const cmd = ['coordinator', 'start', '--config', '/opt/permafrost/examples/mnist.yaml', '--local-workers', '2', ...quick];
    const out = await p.ok(['run', '--name', name, image, ...cmd], 900_000);
    const result = JSON.parse(out.split('\n').at(-1) ?? '');
    t.diagnostic(`quick-start result: ${JSON.stringify(result)}`);
    assert.equal(result.workers, 2);
    assert.ok(result.valAccuracy >= 0 && result.valAccuracy <= 1);
  });

  describe('a coordinator and 3 workers in separate containers', () => {
    let fleet: Fleet;
    before(async () => {
      fleet = await startFleet(p, { image, prefix: `permafrost-test-${id}`, workers: 3, epochs: 2 });
    });

    it('completes the job with every gradient over TCP between containers', async (t: TestContext) => {
      const { code, result } = await fleet.wait(600_000);
      assert.equal(code, 0, await fleet.logs('coordinator'));
      t.diagnostic(`job result: ${JSON.stringify(result)}`);
      assert.equal(result.workers, 3);
      for (const w of fleet.workers) {
        const stats = workerStats(await fleet.logs(w));
        t.diagnostic(`${w}: wireChunks ${stats.wireChunks}, sharedChunks ${stats.sharedChunks}`);
        assert.ok(stats.wireChunks > 0 && stats.sharedChunks === 0, JSON.stringify(stats));
      }
      // each worker's cache lives on its volume under a read-only root: the second epoch only hits
      const [first, second] = (await fleet.report()).epochs;
      t.diagnostic(`cache hit rate by epoch: ${[first, second].map((e) => e && hitRate(e)).join(', ')}`);
      assert.ok(first && first.cacheMisses > 0 && second?.cacheMisses === 0, JSON.stringify([first, second]));
    });
  });

  // elastic: the coordinator notices the lost worker, the others continue as a new generation,
  // and the restarted container rejoins under the same id at a step boundary. Meanwhile the
  // network's DNS answers nothing for 30 s, as podman's can after a container restarts with a new
  // address: the workers join the coordinator by its IP address, but no peer can dial another by
  // name, so generations fail until it answers again, each after a longer pause
  // (libs/coordinator regroup-backoff.ts), and the job goes on within cluster.maxRestarts.
  describe('a worker killed mid-job and started again on its volume, while DNS answers nothing for 30 s', () => {
    let fleet: Fleet;
    before(async () => {
      // epochs of a few seconds: the kill is sent up to a second or two after epoch 2 shows in the
      // log (polled each second), and must land well before the job ends
      const o = { image, prefix: `permafrost-test-${id}-k`, workers: 3, epochs: 6, trainSamples: 4800, coordinatorByIp: true };
      fleet = await startFleet(p, o);
    });

    it('the job completes and the restarted worker hits its cache', async (t: TestContext) => {
      const victim = fleet.workers[1] ?? '';
      await fleet.waitForLog(victim, /"msg":"epoch done".*"epoch":2\b/, 300_000);
      const silence = silenceDns(30_000);
      const killedAt = Date.now();
      await p.ok(['kill', '--signal', 'KILL', victim]);
      const restartedAt = new Date().toISOString();
      await p.ok(['start', victim]);
      const { code, result } = await fleet.wait(600_000);
      await silence;
      assert.equal(code, 0, await fleet.tails(60));
      t.diagnostic(`job result after the kill: ${JSON.stringify(result)}`);
      assert.equal(result.workers, 3);
      for (const w of fleet.workers) {
        const stats = workerStats(await fleet.logs(w));
        t.diagnostic(`${w}: wireChunks ${stats.wireChunks}, sharedChunks ${stats.sharedChunks}`);
        assert.ok(stats.wireChunks > 0, JSON.stringify(stats));
      }
      // the restarted incarnation's epochs: its shards came back to it, and its volume kept their activations
      const epochs = epochLines(await fleet.logs(victim, restartedAt));
      t.diagnostic(`${victim} after its restart: ${epochs.map((e) => `epoch ${e.epoch} cache hit rate ${hitRate(e)}`).join(', ')}`);
      assert.ok(epochs.length > 0, 'the restarted worker trained no epoch');
      for (const e of epochs) assert.equal(e.cacheMisses, 0, JSON.stringify(e));
      const membership = (await fleet.report()).membership ?? [];
      t.diagnostic(`membership changes: ${JSON.stringify(membership)}`);
      // when the coordinator noticed the kill (and why), and when the next generation formed
      const coordinatorLog = await fleet.logs(fleet.coordinator);
      assert.match(coordinatorLog, /"msg":"pausing before the next generation"/, 'no generation failed while DNS was silent');
      const lines = coordinatorLog.split('\n');
      const after = (line: string) => Date.parse((JSON.parse(line) as { time: string }).time) - killedAt;
      for (const msg of ['worker lost', 'membership changed']) {
        const line = lines.find((l) => l.includes(`"msg":"${msg}"`) && l.includes(victim));
        t.diagnostic(`${msg} ${line && after(line)} ms after the kill: ${line?.slice(0, 300)}`);
      }
      // each later generation: why the one before it failed, and the pause before it formed
      for (const line of lines.filter((l) => /"msg":"(membership changed|pausing before the next generation)"/.test(l)).slice(1)) {
        const { msg, generation, ms, why } = JSON.parse(line) as { msg: string; generation?: number; ms?: number; why: string };
        t.diagnostic(
          `${after(line)} ms after the kill: ${msg}${generation ? ` (generation ${generation})` : ` ${ms} ms`}: ${why.slice(0, 300)}`,
        );
      }
    });
  });
});

/** a worker's `epoch done` log lines */
const epochLines = (log: string) =>
  log
    .split('\n')
    .filter((l) => l.includes('"msg":"epoch done"'))
    .map((l) => JSON.parse(l) as { epoch: number; cacheHits: number; cacheMisses: number });

/** An epoch's cache hit rate; in an epoch where the worker trained no step it looked nothing up. */
const hitRate = (e: { cacheHits: number; cacheMisses: number }) =>
  e.cacheHits + e.cacheMisses === 0 ? 'none (no lookups)' : `${((100 * e.cacheHits) / (e.cacheHits + e.cacheMisses)).toFixed(0)}%`;

/**
 * The cache across processes: a reader process reads entries while a training process writes
 * them; a full disk (a 1 MiB tmpfs in a private mount namespace) degrades to uncached training
 * with one warning and the same result.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, type JobFlags, jobFlags, readJson, runCli, runFixture, runProcess, tempDir } from './support';

const tmp = tempDir('cache-proc');

const job = (flags: Partial<JobFlags>) => [
  'train',
  ...jobFlags({ model: 'mlp', inputSize: 28, boundary: 'flatten', trainSamples: 600, valSamples: 50, epochs: 2, batchSize: 50, ...flags }),
];

function canMount(): boolean {
  const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o size=64k tmpfs ${tmp.path} && umount ${tmp.path}`], {
    stdio: 'ignore',
  });
  return r.status === 0;
}

describe('activation cache across processes', () => {
  it('lets another process read while a run writes', async () => {
    const cacheDir = join(tmp.path, 'shared');
    const writer = runCli(
      [
        'train',
        ...jobFlags({
          model: 'mobilenet_v2',
          inputSize: 32,
          trainSamples: 480,
          valSamples: 16,
          epochs: 2,
          batchSize: 16,
          cacheDir,
          checkpointDir: join(tmp.path, 'ck'),
        }),
      ],
      { timeoutMs: 120_000 },
    );
    const reader = runFixture('read-cache.ts', [cacheDir, '32', '60000']);
    const r: { ok: boolean; hits: number; at: number } = JSON.parse((await reader).stdout);
    const readerDone = Date.now();
    const w = await writer;
    assert.equal(w.code, 0, w.stderr);
    assert.ok(r.ok, `reader saw ${r.hits} entries`);
    assert.ok(readerDone < Date.now(), 'reader finished');
    assert.ok(r.at <= readerDone);
  });

  it('trains the same without the cache (--no-cache)', async () => {
    const withCache = join(tmp.path, 'with.json');
    const without = join(tmp.path, 'without.json');
    const [a, b] = await Promise.all([
      runCli(job({ cacheDir: join(tmp.path, 'c2'), report: withCache, checkpointDir: join(tmp.path, 'k1') })),
      runCli(job({ noCache: true, report: without, checkpointDir: join(tmp.path, 'k2') })),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const ra = readJson(withCache);
    const rb = readJson(without);
    assert.deepEqual(
      ra.epochs.map((e: { cacheHits: number }) => e.cacheHits),
      [0, 600],
    );
    assert.deepEqual(
      rb.epochs.map((e: { cached: boolean; cacheHits: number }) => [e.cached, e.cacheHits]),
      [
        [false, 0],
        [false, 0],
      ],
    );
    assert.deepEqual(
      ra.epochs.map((e: { trainLoss: number }) => e.trainLoss),
      rb.epochs.map((e: { trainLoss: number }) => e.trainLoss),
    );
  });

  it('degrades to uncached training with one warning when the disk is full', {
    skip: !canMount() && 'cannot mount a tmpfs here',
  }, async () => {
    const mnt = join(tmp.path, 'tiny');
    const report = join(tmp.path, 'full.json');
    const reference = join(tmp.path, 'ref.json');
    const args = job({ cacheDir: join(mnt, 'cache'), report, checkpointDir: join(tmp.path, 'k3') });
    // a private mount namespace: the tmpfs vanishes with the process, whatever happens
    const quoted = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
    const full = await runProcess(
      'unshare',
      ['-m', 'sh', '-c', `mkdir -p '${mnt}' && mount -t tmpfs -o size=1m tmpfs '${mnt}' && exec ${quoted}`],
      {
        env: { PERMAFROST_LOG: 'info' },
      },
    );
    const ref = await runCli(job({ noCache: true, report: reference, checkpointDir: join(tmp.path, 'k4') }));
    assert.equal(full.code, 0, full.stderr);
    assert.equal(ref.code, 0);
    const warnings = full.stderr.split('\n').filter((l) => l.includes('"level":"warn"'));
    assert.equal(warnings.length, 1, full.stderr);
    assert.match(warnings[0] ?? '', /activation cache disabled after a failed write/);
    const r = readJson(report);
    const q = readJson(reference);
    assert.equal(r.epochs[1].cached, false);
    assert.deepEqual(
      r.epochs.map((e: { trainLoss: number }) => e.trainLoss),
      q.epochs.map((e: { trainLoss: number }) => e.trainLoss),
    );
  });
});

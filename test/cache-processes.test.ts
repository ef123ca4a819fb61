/**
 * The cache across processes: a reader process reads entries while a training process writes
 * them; a full disk (a 1 MiB tmpfs in a private mount namespace) degrades to uncached training
 * with one warning and the same result.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, ROOT, runCli, tempDir } from './helpers';

const tmp = tempDir('cache-proc');
after(tmp.cleanup);

const job = (extra: string[]) => [
  'train',
  '--model',
  'mlp',
  '--input-size',
  '28',
  '--boundary',
  'flatten',
  '--dataset',
  'mnist',
  '--train-samples',
  '600',
  '--val-samples',
  '50',
  '--epochs',
  '2',
  '--batch-size',
  '50',
  '--backend',
  'wasm',
  ...extra,
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
        '--model',
        'mobilenet_v2',
        '--input-size',
        '32',
        '--dataset',
        'mnist',
        '--train-samples',
        '480',
        '--val-samples',
        '16',
      ].concat([
        '--epochs',
        '2',
        '--batch-size',
        '16',
        '--backend',
        'wasm',
        '--cache-dir',
        cacheDir,
        '--checkpoint-dir',
        join(tmp.path, 'ck'),
      ]),
      { timeoutMs: 120_000 },
    );
    const reader = new Promise<{ ok: boolean; hits: number; at: number }>((done, fail) => {
      const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/read-cache.ts'), cacheDir, '32', '60000'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      p.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      p.on('error', fail);
      p.on('close', () => done(JSON.parse(out)));
    });
    const r = await reader;
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
      runCli(job(['--cache-dir', join(tmp.path, 'c2'), '--report', withCache, '--checkpoint-dir', join(tmp.path, 'k1')])),
      runCli(job(['--no-cache', '--report', without, '--checkpoint-dir', join(tmp.path, 'k2')])),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const ra = JSON.parse(readFileSync(withCache, 'utf8'));
    const rb = JSON.parse(readFileSync(without, 'utf8'));
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
    const args = job(['--cache-dir', join(mnt, 'cache'), '--report', report, '--checkpoint-dir', join(tmp.path, 'k3')]);
    // a private mount namespace: the tmpfs vanishes with the process, whatever happens
    const quoted = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
    const full = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const p = spawn('unshare', ['-m', 'sh', '-c', `mkdir -p '${mnt}' && mount -t tmpfs -o size=1m tmpfs '${mnt}' && exec ${quoted}`], {
        cwd: ROOT,
        env: { ...process.env, PERMAFROST_LOG: 'info' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
      p.on('close', (code) => {
        clearTimeout(timer);
        done({ code, stderr });
      });
    });
    const ref = await runCli(job(['--no-cache', '--report', reference, '--checkpoint-dir', join(tmp.path, 'k4')]));
    assert.equal(full.code, 0, full.stderr);
    assert.equal(ref.code, 0);
    const warnings = full.stderr.split('\n').filter((l) => l.includes('"level":"warn"'));
    assert.equal(warnings.length, 1, full.stderr);
    assert.match(warnings[0] ?? '', /activation cache disabled after a failed write/);
    const r = JSON.parse(readFileSync(report, 'utf8'));
    const q = JSON.parse(readFileSync(reference, 'utf8'));
    assert.equal(r.epochs[1].cached, false);
    assert.deepEqual(
      r.epochs.map((e: { trainLoss: number }) => e.trainLoss),
      q.epochs.map((e: { trainLoss: number }) => e.trainLoss),
    );
  });
});

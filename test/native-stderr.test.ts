/**
 * LMDB's own stderr lines in the logs, on the real CLI: a cache whose free-page records are
 * damaged (every txnid key of the free-page tree's root leaf zeroed: well formed pages, so the
 * checks at open pass, but LMDB's C code prints `Invalid null txn id` and more with fprintf when
 * the run writes) trains uncached, and with stderr a pipe every stderr line of the run is one
 * JSON object, LMDB's wrapped with source "native", a local worker's (which shares its
 * coordinator's stderr) included. On a terminal (text logs) they stay raw.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CLI, ROOT, runCli, tempDir } from './support';

const tmp = tempDir('native-stderr');
const base = join(tmp.path, 'base');

const job = (cacheDir: string, samples: number) => [
  '--model',
  'cnn-small',
  '--input-size',
  '16',
  '--dataset',
  'mnist',
  '--train-samples',
  String(samples),
  '--val-samples',
  '50',
  '--epochs',
  '1',
  '--batch-size',
  '50',
  '--backend',
  'wasm',
  '--cache-dir',
  cacheDir,
  '--checkpoint-dir',
  join(tmp.path, 'ck'),
  '--report',
  join(tmp.path, 'report.json'),
];
const train = (cacheDir: string, samples: number) => ['train', ...job(cacheDir, samples)];

/** Every stderr line is one JSON object; returns them. */
function jsonLines(stderr: string): Record<string, unknown>[] {
  const lines = stderr.split('\n').filter((l) => l !== '');
  const notJson = lines.filter((l) => {
    try {
      return typeof JSON.parse(l) !== 'object';
    } catch {
      return true;
    }
  });
  assert.deepEqual(notJson, [], `stderr lines that are not JSON:\n${stderr}`);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

const nullTxnLine = (l: Record<string, unknown>) =>
  l.msg === 'Invalid null txn id' && l.source === 'native' && l.level === 'warn' && typeof l.time === 'string';

/** LMDB's page layout (libs/cache/src/lmdb-layout.ts): 24-byte page header, flags at 18, lower at 20. */
const PAGE_HEADER = 24;
const P_LEAF = 0x02;

/** A copy of the base cache in `dir` with every key of the current free-page tree's root (a leaf) set to 0. */
function damagedFreeList(dir: string): string {
  cpSync(join(base, 'cache.mdb'), join(dir, 'cache.mdb'));
  cpSync(join(base, 'permafrost-cache.json'), join(dir, 'permafrost-cache.json'));
  const file = join(dir, 'cache.mdb');
  const b = readFileSync(file);
  const pageSize = b.readUInt32LE(PAGE_HEADER + 24);
  // the current meta is the one with the higher txnid (MDB_meta: txnid at 128, free root at 64)
  const metas = [0, pageSize].sort((x, y) => Number(b.readBigUInt64LE(y + PAGE_HEADER + 128) - b.readBigUInt64LE(x + PAGE_HEADER + 128)));
  const page = Number(b.readBigUInt64LE((metas[0] as number) + PAGE_HEADER + 64)) * pageSize;
  assert.ok(b.readUInt16LE(page + 18) & P_LEAF, 'the free-page tree of a small cache is one leaf');
  const keys = b.readUInt16LE(page + 20) >> 1;
  assert.ok(keys > 0, 'the base cache has free-page records');
  for (let i = 0; i < keys; i++) {
    const node = page + PAGE_HEADER + b.readUInt16LE(page + PAGE_HEADER + 2 * i);
    assert.equal(b.readUInt16LE(node + 6), 8, 'a free-page record is keyed by an 8-byte txnid');
    b.writeBigUInt64LE(0n, node + 8);
  }
  writeFileSync(file, b);
  return dir;
}

describe("LMDB's stderr lines (real runs)", () => {
  before(async () => {
    const r = await runCli(train(base, 200));
    assert.equal(r.code, 0, r.stderr);
  });

  it('off a terminal every stderr line is JSON, LMDB lines wrapped with source "native"', async () => {
    const dir = damagedFreeList(join(tmp.path, 'pipe'));
    // more samples than the base run: a new fingerprint, so the run writes and LMDB reads its free list
    const r = await runCli(train(dir, 300));
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stderr);
    assert.ok(lines.some(nullTxnLine), r.stderr);
    assert.equal(lines.filter((l) => l.msg === 'activation cache unavailable; training uncached').length, 1, r.stderr);
  });

  it("a local worker's LMDB lines, on the stderr it shares with its coordinator, are JSON too", async () => {
    const root = join(tmp.path, 'fleet');
    damagedFreeList(join(root, 'local-0'));
    const r = await runCli(['coordinator', 'start', '--local-workers', '1', ...job(root, 300)], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stderr);
    assert.ok(lines.some(nullTxnLine), r.stderr);
    assert.ok(
      lines.some((l) => l.msg === 'activation cache unavailable; training uncached' && l.dir === join(root, 'local-0')),
      r.stderr,
    );
  });

  it('on a terminal (text logs) LMDB lines are left as they are', (t) => {
    if (spawnSync('script', ['--version']).status !== 0) return t.skip('no script(1) (util-linux) to run the CLI on a terminal');
    const dir = damagedFreeList(join(tmp.path, 'tty'));
    const command = [process.execPath, CLI, ...train(dir, 300)].map((a) => `'${a}'`).join(' ');
    // script(1) runs the CLI with a pseudo-terminal as stdin, stdout and stderr
    const r = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, PERMAFROST_LOG: 'info' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stdout);
    const lines = r.stdout.split(/\r?\n/);
    assert.ok(lines.includes('Invalid null txn id'), r.stdout);
    assert.doesNotMatch(r.stdout, /"source":"native"/);
  });
});

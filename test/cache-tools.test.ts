/**
 * `permafrost cache ls|stats|show|verify|gc|export` on a cache made by real runs: cnn-small at
 * 16 px on 350 MNIST samples, once frozen up to conv_2 ([8,8,16]) and once up to gap ([16]), the
 * second standing in for a boundary advance (the first is marked superseded by it, as FreezeOut
 * will). LMDB's own mdb_stat and mdb_dump (built from the C source the lmdb package ships) read
 * the cache; NumPy loads an export; verify catches flipped bytes and a changed model; gc refuses
 * while a real run writes and removes what the advance left behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';
import { ActivationCache, decodeValue, type FingerprintRecord } from '@permafrost/cache';
import { jobFlags, ROOT, runCli, runFixture, runProcess, startCli, tempDir } from './support';

const tmp = tempDir('cache-tools');
const cacheDir = join(tmp.path, 'cache');
const quiet = { env: { PERMAFROST_LOG: 'warn' } };

/** a cnn-small run frozen up to `boundary` (none: the freeze flags say where) */
const run = (boundary: string | undefined, epochs: number, dir = cacheDir, samples = 300) => [
  'train',
  ...jobFlags({
    model: 'cnn-small',
    inputSize: 16,
    boundary,
    trainSamples: samples,
    valSamples: 50,
    epochs,
    batchSize: 50,
    cacheDir: dir,
    checkpointDir: join(tmp.path, `ck-${boundary ?? 'x'}-${samples}`),
  }),
];

const jobFile = (name: string, seed: number): string =>
  tmp.file(
    name,
    `model: {name: cnn-small, inputSize: 16}\ndata: {dataset: mnist}\nfreeze: {boundary: conv_2}\ntrain: {seed: ${seed}, backend: wasm}\n`,
  );

/** Builds mdb_stat and mdb_dump from the LMDB source inside the lmdb package, in a temp dir. */
async function buildLmdbTools(): Promise<string | undefined> {
  const cc = ['cc', 'gcc'].find((c) => spawnSync(c, ['--version']).status === 0);
  if (!cc || spawnSync('make', ['--version']).status !== 0) return undefined;
  const src = join(ROOT, 'node_modules/lmdb/dependencies/lmdb/libraries/liblmdb');
  const dir = join(tmp.path, 'liblmdb');
  mkdirSync(dir);
  for (const f of readdirSync(src).filter((f) => /\.[ch]$|^Makefile$/.test(f))) copyFileSync(join(src, f), join(dir, f));
  const make = await runProcess('make', ['-s', '-j2', `CC=${cc}`, 'mdb_stat', 'mdb_dump'], { cwd: dir });
  if (make.code !== 0) throw new Error(`building mdb_stat failed:\n${make.stderr}`);
  return dir;
}

const json = (r: { code: number | null; stdout: string; stderr: string }) => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

/** The fingerprint records and the stored values of fingerprint `id`, read in this process. */
async function readCache(dir: string, id: number): Promise<{ records: FingerprintRecord[]; ids: number[]; values: Float32Array }> {
  const c = ActivationCache.open(dir, { readOnly: true });
  try {
    const records = c.fingerprints();
    const r = records.find((x) => x.id === id) as FingerprintRecord;
    const elements = r.shape.reduce((a, b) => a * b, 1);
    const ids = c.sampleIds(id);
    const values = new Float32Array(ids.length * elements);
    for (const [i, s] of ids.entries()) assert.ok(decodeValue(c.rawValue(id, s) as Buffer, values, i * elements, elements));
    return { records, ids, values };
  } finally {
    await c.close();
  }
}

const hasNumpy = spawnSync('python3', ['-c', 'import numpy']).status === 0;
/**
 * A developer machine without the tool skips the check; CI installs every tool
 * (PERMAFROST_REQUIRE_TOOLS=1 in .ci/run), so there a missing one fails instead of hiding.
 */
function skipUnlessRequired(t: { skip(message: string): void }, why: string): void {
  if (process.env.PERMAFROST_REQUIRE_TOOLS === '1') assert.fail(`${why} (PERMAFROST_REQUIRE_TOOLS=1)`);
  t.skip(why);
}
let tools: string | undefined;

describe('permafrost cache (real runs)', () => {
  before(async () => {
    const building = buildLmdbTools();
    const a = await runCli(run('conv_2', 2));
    assert.equal(a.code, 0, a.stderr);
    const b = await runCli(run('gap', 1));
    assert.equal(b.code, 0, b.stderr);
    const mark = await runFixture('mark-superseded.ts', [cacheDir, '1', '2']);
    assert.equal(mark.stdout.trim(), '{"ok":true}', mark.stderr);
    tools = await building;
  });

  it('ls lists each fingerprint and which one is current for a job', async () => {
    const [asJson, text] = await Promise.all([
      runCli(['cache', 'ls', '--cache-dir', cacheDir, '--config', jobFile('a.yaml', 42), '--json'], quiet),
      runCli(['cache', 'ls', '--cache-dir', cacheDir], quiet),
    ]);
    const rows = json(asJson).fingerprints;
    assert.deepEqual(
      rows.map((r: Record<string, unknown>) => [r.id, r.model, r.boundary, r.dataset, r.inputSize, r.shape, r.dtype, r.entries, r.current]),
      [
        [1, 'cnn-small', 'conv_2', 'mnist', 16, [8, 8, 16], 'float32', 350, true],
        [2, 'cnn-small', 'gap', 'mnist', 16, [16], 'float32', 350, false],
      ],
    );
    assert.equal(rows[0].supersededBy, rows[1].fingerprint);
    assert.equal(rows[0].bytes, 350 * (8 + 1024 * 4));
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.match(
      lines[0] ?? '',
      /^ID\s+FINGERPRINT\s+MODEL\s+BOUNDARY\s+DATASET\s+INPUT\s+SHAPE\s+DTYPE\s+ENTRIES\s+SIZE\s+CREATED\s+LAST USED\s+STATE$/,
    );
    assert.match(
      lines[1] ?? '',
      /^1\s+[0-9a-f]{12}\s+cnn-small\s+conv_2\s+mnist\s+16\s+\[8,8,16\]\s+float32\s+350\s+1\.37 MiB .*superseded by 2$/,
    );
    assert.equal(lines.length, 3);
  });

  it("stats agree with LMDB's own mdb_stat and mdb_dump", async (t) => {
    const stats = json(await runCli(['cache', 'stats', '--cache-dir', cacheDir, '--json'], quiet));
    assert.equal(stats.fingerprints, 2);
    assert.equal(stats.superseded, 1);
    assert.equal(stats.entries, 700);
    assert.equal(stats.storedEntries, 700);
    assert.equal(stats.hits, 350, 'the second epoch of the conv_2 run');
    assert.equal(stats.misses, 700);
    assert.equal(stats.checksumFailures, 0);
    assert.ok(stats.lmdb.fileBytes <= stats.lmdb.mapSize);
    assert.deepEqual(stats.writers, []);
    if (!tools) {
      skipUnlessRequired(t, 'no C compiler or make: cannot build mdb_stat');
      return;
    }
    const env = join(cacheDir, 'cache.mdb');
    const st = spawnSync(join(tools, 'mdb_stat'), ['-n', '-e', '-a', env], { encoding: 'utf8' });
    assert.equal(st.status, 0, st.stderr);
    const field = (section: string, name: string) => {
      const block = st.stdout.split(/\n(?=\S)/).find((b) => b.startsWith(section)) ?? '';
      return Number(new RegExp(`${name}: (\\d+)`).exec(block)?.[1]);
    };
    assert.equal(field('Environment Info', 'Map size'), stats.lmdb.mapSize);
    assert.equal(field('Environment Info', 'Page size'), stats.lmdb.pageSize);
    assert.equal(field('Environment Info', 'Number of pages used'), stats.lmdb.pages);
    assert.equal(field('Status of activations', 'Entries'), 700);
    assert.equal(field('Status of activations', 'Overflow pages'), stats.lmdb.activations.overflowPages);
    assert.equal(field('Status of meta', 'Entries'), 3, 'two fingerprint records and next-id');
    const dump = spawnSync(join(tools, 'mdb_dump'), ['-n', '-s', 'meta', env], { encoding: 'utf8' });
    assert.equal(dump.status, 0, dump.stderr);
    const lines = dump.stdout.split('\n');
    const data = lines
      .slice(lines.indexOf('HEADER=END') + 1, lines.indexOf('DATA=END'))
      .map((l) => Buffer.from(l.trim(), 'hex').toString());
    const records = data.filter((_, i) => i % 2 === 1 && data[i - 1]?.startsWith('fp:')).map((v) => JSON.parse(v));
    assert.deepEqual(records.map((r) => [r.id, r.boundary, r.entries]).sort(), [
      [1, 'conv_2', 350],
      [2, 'gap', 350],
    ]);
  });

  it('show summarises one entry and draws its channels as a PNG', async () => {
    const { records, ids, values } = await readCache(cacheDir, 1);
    const sample = ids[3] as number;
    const png = join(tmp.path, 'show.png');
    const prefix = records[0]?.fingerprint.slice(0, 8) ?? '';
    const [text, asJson] = await Promise.all([
      runCli(['cache', 'show', '1', String(sample), '--cache-dir', cacheDir, '--png', png], quiet),
      runCli(['cache', 'show', prefix, String(sample), '--cache-dir', cacheDir, '--json'], quiet),
    ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^fingerprint 1 \\([0-9a-f]{12}\\) sample ${sample}\\n`));
    assert.match(text.stdout, /shape +\[8,8,16\] float32, stored as float32 in 4104 bytes/);
    assert.match(text.stdout, /checksum +ok/);
    const s = json(asJson);
    const mine = values.subarray(3 * 1024, 4 * 1024);
    assert.equal(s.summary.min, Math.min(...mine));
    assert.equal(s.summary.max, Math.max(...mine));
    assert.ok(Math.abs(s.summary.mean - mine.reduce((a, b) => a + b, 0) / 1024) < 1e-6);
    assert.equal(s.summary.zeroFraction, mine.filter((v) => v === 0).length / 1024);
    assert.equal(s.checksum, 'ok');
    // 16 channels: 4 x 4 tiles of 8 x 8 scaled 6x to 48 px, with label bands and padding
    const b = readFileSync(png);
    assert.equal(b.toString('latin1', 1, 4), 'PNG');
    const [w, h] = [b.readUInt32BE(16), b.readUInt32BE(20)];
    assert.deepEqual([w, h], [4 * 52 + 4, 4 * 66 + 4]);
    const idat = b.subarray(41, 41 + b.readUInt32BE(33));
    assert.equal(inflateSync(idat).length, (w * 3 + 1) * h);
  });

  it('export writes .npy files NumPy loads with the same values, and a .safetensors file', async (t) => {
    const npyDir = join(tmp.path, 'npy');
    const stDir = join(tmp.path, 'st');
    const [a, b] = await Promise.all([
      runCli(['cache', 'export', '1', '--out', npyDir, '--cache-dir', cacheDir], quiet),
      runCli(['cache', 'export', '1', '--out', stDir, '--format', 'safetensors', '--cache-dir', cacheDir, '--json'], quiet),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^exported 350 rows of \[8,8,16\] float32 \(fingerprint 1\) as npy/);
    const { ids, values } = await readCache(cacheDir, 1);
    const sha = createHash('sha256').update(new Uint8Array(values.buffer)).digest('hex');
    const st = json(b);
    assert.deepEqual(st.shape, [350, 8, 8, 16]);
    const file = readFileSync(join(stDir, 'activations.safetensors'));
    const n = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.toString('utf8', 8, 8 + n));
    assert.deepEqual(header.activations, { dtype: 'F32', shape: [350, 8, 8, 16], data_offsets: [0, 350 * 4096] });
    assert.deepEqual(header.sample_ids, { dtype: 'I64', shape: [350], data_offsets: [350 * 4096, 350 * 4104] });
    assert.equal(
      createHash('sha256')
        .update(file.subarray(8 + n, 8 + n + 350 * 4096))
        .digest('hex'),
      sha,
    );
    assert.deepEqual(
      Array.from(new BigInt64Array(file.buffer.slice(file.byteOffset + 8 + n + 350 * 4096, file.byteOffset + file.length)), Number),
      ids,
    );
    if (!hasNumpy) {
      skipUnlessRequired(t, 'python3 with numpy is not installed (Debian: python3-numpy)');
      return;
    }
    const py = spawnSync(
      'python3',
      [
        '-c',
        [
          'import hashlib, json, sys, numpy as np',
          'a = np.load(sys.argv[1] + "/activations.npy"); i = np.load(sys.argv[1] + "/sample_ids.npy")',
          'print(json.dumps({"shape": list(a.shape), "dtype": str(a.dtype), "ids": i.tolist(), "idtype": str(i.dtype),',
          '  "sha": hashlib.sha256(a.astype("<f4").tobytes()).hexdigest(), "mean": float(a.mean())}))',
        ].join('\n'),
        npyDir,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(py.status, 0, py.stderr);
    const got = JSON.parse(py.stdout);
    assert.deepEqual(got.shape, [350, 8, 8, 16]);
    assert.equal(got.dtype, 'float32');
    assert.equal(got.idtype, 'int64');
    assert.deepEqual(got.ids, ids);
    assert.equal(got.sha, sha, 'numpy reads the same float32 values');
  });

  it('verify recomputes entries from the recorded model and dataset and finds them equal', async () => {
    const r = json(await runCli(['cache', 'verify', '--cache-dir', cacheDir, '--sample', '16', '--json'], quiet));
    assert.deepEqual(
      r.fingerprints.map((f: Record<string, unknown>) => [f.id, f.status, f.checked, f.storedEntries, f.maxAbsDiff]),
      [
        [1, 'ok', 16, 350, 0],
        [2, 'ok', 16, 350, 0],
      ],
    );
  });

  it('verify catches a value whose bytes were flipped on disk, and a model that changed', async () => {
    const copy = join(tmp.path, 'flipped');
    mkdirSync(copy);
    for (const f of ['cache.mdb', 'permafrost-cache.json']) copyFileSync(join(cacheDir, f), join(copy, f));
    const c = ActivationCache.open(copy, { readOnly: true });
    const victim = c.sampleIds(1)[7] as number;
    const stored = c.rawValue(1, victim) as Buffer;
    await c.close();
    // bit rot in the file itself: LMDB has no checksums of its own
    const file = readFileSync(join(copy, 'cache.mdb'));
    const at = file.indexOf(stored);
    assert.ok(at > 0 && file.indexOf(stored, at + 1) === -1, 'the value is stored once, contiguously');
    file[at + 8 + 100] = (file[at + 8 + 100] as number) ^ 0x5a;
    writeFileSync(join(copy, 'cache.mdb'), file);
    const [verify, show, stale] = await Promise.all([
      runCli(['cache', 'verify', '1', '--all', '--cache-dir', copy], quiet),
      runCli(['cache', 'show', '1', String(victim), '--cache-dir', copy], quiet),
      runCli(['cache', 'verify', '1', '--cache-dir', cacheDir, '--config', jobFile('seed7.yaml', 7), '--sample', '4'], quiet),
    ]);
    assert.equal(verify.code, 1, verify.stderr);
    assert.match(
      verify.stdout,
      new RegExp(
        `^1 [0-9a-f]{12} CORRUPT: 1 of 350 entries failed the checksum \\(samples ${victim}\\); max abs diff 0, max rel diff 0 over the rest\\n$`,
      ),
    );
    assert.match(verify.stderr, /permafrost: verify: 1 of 1 fingerprints failed/);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /checksum +FAILED: checksum mismatch/);
    assert.equal(stale.code, 1, stale.stderr);
    assert.match(
      stale.stdout,
      /^1 [0-9a-f]{12} STALE: the model or dataset no longer match .*changed: .*prefix weights [0-9a-f]{12} -> [0-9a-f]{12}\)\n$/,
    );
  });

  it('gc refuses while a real training run writes, and cleans up after it is killed', async () => {
    const busy = join(tmp.path, 'busy');
    const trainer = startCli(run('conv_2', 500, busy, 600));
    try {
      await trainer.waitFor(/"msg":"activation cache"/, 60_000);
      const [gc, stats] = await Promise.all([
        runCli(['cache', 'gc', '--cache-dir', busy], quiet),
        runCli(['cache', 'stats', '--cache-dir', busy, '--json'], quiet),
      ]);
      assert.equal(gc.code, 1, gc.stderr);
      assert.match(
        gc.stderr,
        new RegExp(
          `^permafrost: gc refused: .* is being written by pid ${trainer.child.pid} .*\\(train, since .*\\); run gc when no training run uses this cache\\n$`,
        ),
      );
      assert.deepEqual(
        json(stats).writers.map((w: { pid: number; role: string }) => [w.pid, w.role]),
        [[trainer.child.pid, 'train']],
        'a reader runs beside the writer and sees it',
      );
    } finally {
      trainer.child.kill('SIGKILL');
      await trainer.exit;
    }
    const after = json(await runCli(['cache', 'gc', '--cache-dir', busy, '--json'], quiet));
    assert.equal(after.staleWritersRemoved, 1, 'the killed run left its registration; gc saw it was dead');
    assert.equal(after.removed.length, 0);
  });

  it('gc removes the fingerprint a boundary advance left behind and keeps the current one', async () => {
    const keepCopy = join(tmp.path, 'keep');
    cpSync(cacheDir, keepCopy, { recursive: true });
    const [dry, kept] = await Promise.all([
      runCli(['cache', 'gc', '--cache-dir', cacheDir, '--dry-run', '--json'], quiet),
      runCli(['cache', 'gc', '--cache-dir', keepCopy, '--keep', '1', '--json'], quiet),
    ]);
    assert.deepEqual(
      json(dry).removed.map((r: Record<string, unknown>) => [r.id, r.reason, r.entries]),
      [[1, 'superseded', 350]],
    );
    assert.equal(json(kept).removed.length, 0, '--keep wins');
    const gc = await runCli(['cache', 'gc', '--cache-dir', cacheDir], quiet);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(
      gc.stdout,
      /^removed 1 fingerprint, 350 entries, 1\.37 MiB\n {2}1 [0-9a-f]{12} cnn-small\/conv_2 superseded by 2: 350 entries, 1\.37 MiB\nkept 1 fingerprint\n/,
    );
    assert.match(gc.stdout, /cache\.mdb stays .*: LMDB keeps freed pages in its file/);
    const [ls, stats, verify] = await Promise.all([
      runCli(['cache', 'ls', '--cache-dir', cacheDir, '--json'], quiet),
      runCli(['cache', 'stats', '--cache-dir', cacheDir, '--json'], quiet),
      runCli(['cache', 'verify', '--cache-dir', cacheDir, '--sample', '8', '--json'], quiet),
    ]);
    assert.deepEqual(
      json(ls).fingerprints.map((r: { id: number; boundary: string }) => [r.id, r.boundary]),
      [[2, 'gap']],
    );
    const s = json(stats);
    assert.equal(s.storedEntries, 350);
    assert.ok(s.lmdb.freePages >= 700, `the conv_2 values' overflow pages are free: ${s.lmdb.freePages}`);
    assert.equal(json(verify).fingerprints[0].status, 'ok');
  });

  it('gc removes what a real FreezeOut run left behind at its earlier boundaries', async () => {
    // cnn-small blocks: conv_1 (.. pool_1) | conv_2 (.. gap) | dense_1; k = 2 with linear t0 = 0.5
    // over 2 epochs of 6 steps freezes conv_2 at step 7 and dense_1 at step 10: three boundaries
    const dir = join(tmp.path, 'freezeout-cache');
    const args = run(undefined, 2, dir);
    const r = await runCli([...args, '--freeze', 'freezeout', '--k', '2', '--schedule', 'linear', '--t0', '0.5'], quiet);
    assert.equal(r.code, 0, r.stderr);
    const before = json(await runCli(['cache', 'ls', '--cache-dir', dir, '--json'], quiet)).fingerprints;
    assert.deepEqual(
      before.map((f: { boundary: string; supersededBy?: string }) => [f.boundary, f.supersededBy !== undefined]),
      [
        ['pool_1', true],
        ['gap', true],
        ['dense_1', false],
      ],
    );
    assert.equal(before[0].supersededBy, before[1].fingerprint);
    assert.equal(before[1].supersededBy, before[2].fingerprint);
    const gc = json(await runCli(['cache', 'gc', '--cache-dir', dir, '--json'], quiet));
    assert.deepEqual(
      gc.removed.map((f: { boundary: string; reason: string }) => [f.boundary, f.reason]),
      [
        ['pool_1', 'superseded'],
        ['gap', 'superseded'],
      ],
    );
    const after = json(await runCli(['cache', 'ls', '--cache-dir', dir, '--json'], quiet)).fingerprints;
    assert.deepEqual(
      after.map((f: { boundary: string; entries: number }) => [f.boundary, f.entries]),
      [['dense_1', before[2].entries]],
    );
  });

  it('reports bad input as one line with exit code 2', async () => {
    const other = join(tmp.path, 'not-a-cache');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'x');
    const cases: [string[], RegExp][] = [
      [['cache', 'ls', '--cache-dir', join(tmp.path, 'missing')], /--cache-dir: .*missing does not exist/],
      [['cache', 'stats', '--cache-dir', other], /not-a-cache is not a Permafrost cache \(no permafrost-cache\.json\)/],
      [['cache', 'show', '9', '0', '--cache-dir', cacheDir], /no fingerprint '9' in this cache \(it holds 2 \([0-9a-f]{12}\)\)/],
      [['cache', 'gc', '--older-than', 'soon', '--cache-dir', cacheDir], /--older-than: expected a duration/],
      [
        ['cache', 'export', '2', '--out', join(tmp.path, 'x'), '--format', 'csv', '--cache-dir', cacheDir],
        /--format: expected one of npy, safetensors/,
      ],
      [['cache', 'verify', '--sample', '3', '--all', '--cache-dir', cacheDir], /give one of --sample, --sample-fraction and --all/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, quiet)));
    results.forEach((r, i) => {
      const [args, re] = cases[i] as [string[], RegExp];
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^permafrost: /);
    });
  });

  it('has help for the command and each verb', async () => {
    const [top, gc] = await Promise.all([runCli(['cache', '--help'], quiet), runCli(['cache', 'gc', '--help'], quiet)]);
    assert.equal(top.code, 0);
    for (const v of ['ls', 'stats', 'show', 'verify', 'gc', 'export']) assert.match(top.stdout, new RegExp(`\\n  ${v}\\b`));
    assert.match(gc.stdout, /--older-than <duration>/);
    assert.match(gc.stdout, /--keep <fingerprint\.\.\.>/);
    assert.match(gc.stdout, /--dry-run/);
  });
});

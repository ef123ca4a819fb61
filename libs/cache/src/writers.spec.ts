import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ActivationCache } from './activation-cache';
import { listWriters, registerWriter, WRITERS_DIR, writerAlive } from './writers';

const root = mkdtempSync(join(tmpdir(), 'permafrost-writers-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('writer registry', () => {
  it('registers a writing open, and releases it on close; read-only opens leave no trace', async () => {
    const dir = join(root, 'a');
    const c = ActivationCache.open(dir);
    const w = listWriters(dir);
    assert.equal(w.live.length, 1);
    assert.equal(w.live[0]?.pid, process.pid);
    assert.equal(w.live[0]?.role, 'train');
    const r = ActivationCache.open(dir, { readOnly: true });
    assert.equal(listWriters(dir).live.length, 1, 'a reader is not a writer');
    await r.close();
    await c.close();
    assert.deepEqual(readdirSync(join(dir, WRITERS_DIR)), []);
  });

  it('tells live writers from those whose process is gone or whose pid was recycled', () => {
    const dir = join(root, 'b');
    mkdirSync(join(dir, WRITERS_DIR), { recursive: true });
    const mine = registerWriter(dir, 'gc');
    const base = { host: hostname(), role: 'train', started: new Date().toISOString(), command: 'x' };
    writeFileSync(join(dir, WRITERS_DIR, '1-dead.json'), JSON.stringify({ ...base, pid: deadPid() }));
    const me = JSON.parse(readFileSync(mine.file, 'utf8'));
    // our own pid, but a different start time: a recycled pid
    writeFileSync(join(dir, WRITERS_DIR, '2-recycled.json'), JSON.stringify({ ...base, pid: process.pid, procStart: '1' }));
    writeFileSync(join(dir, WRITERS_DIR, '3-garbage.json'), '{');
    writeFileSync(join(dir, WRITERS_DIR, '4-elsewhere.json'), JSON.stringify({ ...base, host: 'another-host', pid: 1 }));
    assert.ok(me.procStart === undefined || writerAlive(me));
    const w = listWriters(dir, { removeStale: true });
    assert.deepEqual(w.live.map((x) => x.file.split('/').pop()).sort(), [mine.file.split('/').pop(), '4-elsewhere.json'].sort());
    assert.equal(w.stale.length, me.procStart === undefined ? 2 : 3);
    assert.ok(!existsSync(join(dir, WRITERS_DIR, '1-dead.json')), 'stale files are cleaned');
    mine.release();
    assert.ok(!existsSync(mine.file));
  });

  it('removes a registration when its process exits without closing', () => {
    const dir = join(root, 'c');
    const script = `import('${join(import.meta.dirname, 'writers.ts')}').then((m) => { m.registerWriter(${JSON.stringify(dir)}, 'train'); process.exit(0); })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, WRITERS_DIR)), []);
  });
});

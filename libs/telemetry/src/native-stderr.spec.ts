import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

const MODULE = join(import.meta.dirname, 'native-stderr.ts');

/** Runs `body` in a child process (stderr a pipe) that has `native` (the module) imported. */
function child(body: string, env: Record<string, string> = {}) {
  const script = `import * as native from ${JSON.stringify(MODULE)};\n${body}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, PERMAFROST_LOG: 'info', ...env },
    encoding: 'utf8',
    timeout: 30_000,
    maxBuffer: 1 << 26,
  });
  return { code: r.status, lines: r.stderr.split('\n').filter((l) => l !== '') };
}

/** The module is built here (npm ci with a C compiler); else skip, or fail under PERMAFROST_REQUIRE_TOOLS=1. */
function built(t: TestContext): boolean {
  const r = child('const why = native.captureNativeStderr(); if (why) { process.stdout.write(why); process.exit(9); }');
  if (r.code === 0) return true;
  if (process.env.PERMAFROST_REQUIRE_TOOLS === '1') assert.fail('the stderr-capture module is not built');
  t.skip('the stderr-capture module is not built');
  return false;
}

const nativeLine = (l: string) => {
  const o = JSON.parse(l) as Record<string, unknown>;
  assert.equal(o.level, 'warn');
  assert.equal(o.source, 'native');
  assert.ok(!Number.isNaN(Date.parse(String(o.time))), l);
  return o.msg;
};

describe('native stderr capture', () => {
  it('writes C stderr lines as JSON log lines, escaped, split at 16 KiB, the last one at exit', (t) => {
    if (!built(t)) return;
    const r = child(`
      native.captureNativeStderr();
      native.printNativeStderr('mdb_page_spill flushing error 5\\n');
      native.printNativeStderr('quote " backslash \\\\ tab \\t bell \\u0007 é ✓\\n');
      for (let i = 0; i < 5; i++) native.printNativeStderr('x'.repeat(4000));
      native.printNativeStderr('\\n');
      process.stderr.write('permafrost: a line of Node itself\\n');
      native.printNativeStderr('no newline before the exit');
      process.exit(3);
    `);
    assert.equal(r.code, 3, r.lines.join('\n'));
    const ours = r.lines.filter((l) => l.startsWith('permafrost: '));
    assert.deepEqual(ours, ['permafrost: a line of Node itself'], "Node's own writes to fd 2 are untouched");
    const msgs = r.lines.filter((l) => !l.startsWith('permafrost: ')).map(nativeLine);
    assert.deepEqual(msgs, [
      'mdb_page_spill flushing error 5',
      'quote " backslash \\ tab \t bell \u0007 é ✓',
      'x'.repeat(16384),
      'x'.repeat(20000 - 16384),
      'no newline before the exit',
    ]);
  });

  it('writes a line without its newline after a quiet while, and leaves child processes alone', (t) => {
    if (!built(t)) return;
    const r = child(`
      import { spawnSync } from 'node:child_process';
      native.captureNativeStderr();
      native.printNativeStderr('partial');
      await new Promise((r) => setTimeout(r, 600));
      native.printNativeStderr('next\\n');
      spawnSync(process.execPath, ['-e', 'process.stderr.write("a child\\\\n")'], { stdio: 'inherit' });
    `);
    assert.equal(r.code, 0, r.lines.join('\n'));
    assert.equal(r.lines.length, 3, r.lines.join('\n'));
    assert.deepEqual(r.lines.slice(0, 2).map(nativeLine), ['partial', 'next']);
    assert.equal(r.lines[2], 'a child');
  });

  it('loses no line when fd 2 (a non-blocking pipe) fills faster than it is read', (t) => {
    if (!built(t)) return;
    const r = child(`
      native.captureNativeStderr();
      for (let i = 0; i < 10000; i++) native.printNativeStderr(\`line \${i} \${'x'.repeat(60)}\\n\`);
      process.exit(0);
    `);
    assert.equal(r.code, 0);
    assert.deepEqual(
      r.lines.map(nativeLine),
      Array.from({ length: 10000 }, (_, i) => `line ${i} ${'x'.repeat(60)}`),
    );
  });

  it('drops the lines at log level error, like any warning', (t) => {
    if (!built(t)) return;
    const r = child("native.captureNativeStderr(); native.printNativeStderr('hidden\\n');", { PERMAFROST_LOG: 'error' });
    assert.deepEqual([r.code, r.lines], [0, []]);
  });

  it('leaves native lines raw when the logs are text (stderr a terminal)', (t) => {
    if (!built(t)) return;
    const r = child(`
      process.stderr.isTTY = true;
      native.captureNativeStderr();
      native.printNativeStderr('a raw line\\n');
    `);
    assert.deepEqual([r.code, r.lines], [0, ['a raw line']]);
  });
});

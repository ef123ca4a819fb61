import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { describe, it } from 'node:test';
import { relativeError } from './wasm-kernels/kernel-testing';
import { resolveThreads } from './wasm-threads';

const FIXTURE = new URL('./wasm-threads.fixture.ts', import.meta.url).pathname;

/** Runs the fixture in a fresh process (the backend initialises once per process). */
function run(threads: number): Promise<{ threads: number; grads: number[][] }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, '--threads', String(threads)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, PERMAFROST_LOG: 'warn' },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').at(-1);
      if (code !== 0 || !last) fail(new Error(`fixture (threads ${threads}) exited ${code ?? signal}`));
      else done(JSON.parse(last));
    });
  });
}

describe('wasm with XNNPACK threads (worker_threads pool)', () => {
  it('starts the pool, exits on its own, and computes the single-threaded gradients', async () => {
    const [one, two] = await Promise.all([run(1), run(2)]);
    assert.equal(one.threads, 1);
    assert.equal(two.threads, Math.min(2, cpus().length), 'pool size');
    assert.equal(two.grads.length, one.grads.length);
    one.grads.forEach((g, i) => {
      const err = relativeError(Float32Array.from(two.grads[i] as number[]), Float32Array.from(g));
      assert.ok(err <= 1e-5, `gradient ${i}: relative error ${err.toExponential(2)}`);
    });
  });
});

describe('resolveThreads', () => {
  it("resolves 'auto' to every CPU the process may use and keeps a count", () => {
    assert.equal(resolveThreads('auto'), availableParallelism());
    assert.equal(resolveThreads(3), 3);
  });
});

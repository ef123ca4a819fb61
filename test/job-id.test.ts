/**
 * Every job has its own id, carried in every control-plane message: a worker started for one job
 * and pointed at the coordinator of another is refused, and the refusal names both jobs.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { jobFlags, runCli, startCli, tempDir } from './support';

const tmp = tempDir('job-id');

const job = (name: string) =>
  jobFlags({ model: 'mlp', inputSize: 10, trainSamples: 64, valSamples: 8, epochs: 1, cacheDir: join(tmp.path, name) });

describe('job ids', () => {
  it('a worker of another job is refused with a message naming both job ids', async () => {
    const a = startCli(['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '1', '--job-id', 'job-a', ...job('a')]);
    const b = startCli(['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '1', '--job-id', 'job-b', ...job('b')]);
    try {
      const [lineA, lineB] = await Promise.all([a.waitFor(/coordinator listening/), b.waitFor(/coordinator listening/)]);
      assert.equal(JSON.parse(lineA).jobId, 'job-a');
      const addressB = JSON.parse(lineB).address as string;
      const w = await runCli(
        ['worker', 'start', '--coordinator', addressB, '--job-id', 'job-a', '--id', 'stray', '--cache-dir', join(tmp.path, 'w')],
        { timeoutMs: 60_000 },
      );
      assert.equal(w.code, 1, w.stderr);
      assert.match(w.stderr, /permafrost: join refused: worker stray was started for job job-a, but this coordinator runs job job-b/);
      const refused = await b.waitFor(/"msg":"join refused"/, 5000);
      assert.match(refused, /"worker":"stray"/);
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
      await Promise.all([a.exit, b.exit]);
    }
  });

  it('a bad job id is a user error naming the flag', async () => {
    const r = await runCli(['worker', 'start', '--coordinator', '127.0.0.1:1', '--job-id', 'no spaces please']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^permafrost: --job-id: expected 1-64 letters, digits/m);
    const c = await runCli(['worker', 'start', '--coordinator', 'nowhere']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /^permafrost: --coordinator: expected HOST:PORT, got 'nowhere'/m);
  });
});

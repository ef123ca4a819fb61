import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LastCheckpoint } from './last-checkpoint';

describe('the checkpoint a failing job leaves', () => {
  it('asks the worker and reports where it wrote the checkpoint', async () => {
    const last = new LastCheckpoint();
    let asked = 0;
    const p = last.save('b', 41, () => asked++);
    assert.equal(asked, 1);
    last.answered('a', { checkpointDir: '/elsewhere', step: 3n, error: '' });
    last.answered('b', { checkpointDir: '/ckpt/step-00000041', step: 41n, error: '' });
    assert.equal(await p, 'the last committed step 41 is in checkpoint /ckpt/step-00000041 (--resume continues from it)');
  });

  it('reports a failed write, a lost worker and a worker that never answers', async () => {
    const last = new LastCheckpoint();
    const failed = last.save('b', 41, () => last.answered('b', { checkpointDir: '', step: 0n, error: 'disk full' }));
    assert.match(await failed, /no checkpoint of the last committed step: worker b: disk full/);
    const lost = last.save('b', 41, () => undefined);
    last.lost('c', 'disconnected');
    last.lost('b', 'disconnected');
    assert.match(await lost, /worker b was lost \(disconnected\)/);
    const t0 = Date.now();
    const silent = await last.save('b', 41, () => undefined, 50);
    assert.match(silent, /no checkpoint of step 41: worker b did not write it within 50 ms/);
    assert.ok(Date.now() - t0 < 2000);
  });
});

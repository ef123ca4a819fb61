import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { UserError } from '@permafrost/telemetry';
import { checkpointName, intactCheckpoint, removeStaleTemps, resumePoint } from './checkpoint-pointer';
import { fit } from './fit';
import { adam } from './testing';

describe('checkpoint pointer and resume point', () => {
  let root: string;
  before(async () => {
    await initEngine('cpu');
    root = mkdtempSync(join(tmpdir(), 'permafrost-pointer-'));
    const dataset = await openDataset('mnist');
    const model = await assemble({ name: 'mlp', inputSize: 10 }, {}, 10, 5);
    const ids = [1, 1001, 2001, 3001];
    const r = await fit({
      model,
      dataset,
      trainIds: ids,
      valIds: [7],
      epochs: 3,
      batchSize: 2,
      seed: 1,
      optimizer: adam(0.01),
      checkpoint: { dir: root, everyEpoch: true },
    });
    r.trainer.dispose();
    await dataset.close();
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('names checkpoints by epoch, the last one final, and leaves no temporary file behind', () => {
    assert.equal(checkpointName(2, 3), 'epoch-0002');
    assert.equal(checkpointName(3, 3), 'final');
    assert.deepEqual(readdirSync(root).sort(), ['epoch-0001', 'epoch-0002', 'final', 'latest.json']);
    assert.deepEqual(resumePoint(root), { epoch: 3, step: 6, dir: join(root, 'final') });
  });

  it('falls back to the newest intact checkpoint when latest.json is damaged or names a damaged one', () => {
    const copy = mkdtempSync(join(tmpdir(), 'permafrost-pointer-copy-'));
    try {
      cpSync(root, copy, { recursive: true });
      writeFileSync(join(copy, 'latest.json'), '');
      assert.deepEqual(resumePoint(copy), { epoch: 3, step: 6, dir: join(copy, 'final') }, 'an empty pointer');
      truncateSync(join(copy, 'final', 'weights.bin'), 100);
      assert.equal(intactCheckpoint(join(copy, 'final')), false);
      writeFileSync(join(copy, 'latest.json'), JSON.stringify({ checkpoint: 'final', epoch: 3, step: 6 }));
      assert.deepEqual(resumePoint(copy), { epoch: 2, step: 4, dir: join(copy, 'epoch-0002') }, 'a truncated weights file');
      rmSync(join(copy, 'epoch-0002', 'optimizer.bin'));
      rmSync(join(copy, 'latest.json'));
      assert.deepEqual(resumePoint(copy), { epoch: 1, step: 2, dir: join(copy, 'epoch-0001') }, 'no pointer, a missing optimizer file');
      rmSync(join(copy, 'epoch-0001', 'meta.json'));
      assert.throws(
        () => resumePoint(copy),
        (e: unknown) => e instanceof UserError && /no checkpoint to resume from/.test(e.message),
      );
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('removes what interrupted writes left: half-written checkpoint directories and pointers', () => {
    mkdirSync(join(root, '.epoch-0004.tmp-123-456'));
    writeFileSync(join(root, '.epoch-0004.tmp-123-456', 'weights.bin'), 'partial');
    writeFileSync(join(root, '.latest.json.tmp-123'), '{');
    assert.deepEqual(removeStaleTemps(root).sort(), ['.epoch-0004.tmp-123-456', '.latest.json.tmp-123']);
    assert.deepEqual(readdirSync(root).sort(), ['epoch-0001', 'epoch-0002', 'final', 'latest.json']);
  });
});

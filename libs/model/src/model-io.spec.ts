import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadModelFile, saveModelDir } from './model-io';

const root = mkdtempSync(join(tmpdir(), 'permafrost-model-io-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the saved model whose manifest names `path` as its shard. */
function withShardPath(name: string, path: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const json = JSON.parse(readFileSync(join(root, 'good', 'model.json'), 'utf8'));
  json.weightsManifest[0].paths = [path];
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  return join(dir, 'model.json');
}

const refused = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);

describe('loadModelFile', () => {
  before(async () => {
    await tf.setBackend('cpu');
    const m = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
    await saveModelDir(m, join(root, 'good'));
    m.dispose();
    // a shard outside any model directory, with the right size, so only the path check can refuse it
    writeFileSync(join(root, 'outside.bin'), readFileSync(join(root, 'good', 'weights.bin')));
  });

  it('loads shards beside model.json', async () => {
    const m = await loadModelFile(join(root, 'good', 'model.json'));
    assert.equal(m.countParams(), 8);
    m.dispose();
  });

  it('refuses weight paths that leave the model directory: ../, absolute, and links to outside files', async () => {
    await assert.rejects(loadModelFile(withShardPath('climb', '../outside.bin')), refused(/outside the model's directory/));
    await assert.rejects(loadModelFile(withShardPath('etc', '../../../../etc/hostname')), refused(/outside the model's directory/));
    await assert.rejects(loadModelFile(withShardPath('abs', join(root, 'outside.bin'))), refused(/outside the model's directory/));
    const linked = withShardPath('link', 'w.bin');
    symlinkSync(join(root, 'outside.bin'), join(root, 'link', 'w.bin'));
    await assert.rejects(loadModelFile(linked), refused(/links to .*outside\.bin, outside the model's directory/));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './support';

describe('permafrost models ls', () => {
  it('lists bundled and built-in models', async () => {
    const r = await runCli(['models', 'ls']);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['mobilenet_v2', 'mlp', 'cnn-small', 'resnet-small']) assert.match(r.stdout, new RegExp(`^${name} `, 'm'));
  });

  it('describes the valid boundaries of a bundled model with parameters and forward cost', async () => {
    const r = await runCli(['models', 'ls', '--model', 'mobilenet_v2', '--input-size', '96', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    const boundaries = info.layers.filter((l: { boundary: boolean }) => l.boundary).map((l: { layer: string }) => l.layer);
    assert.ok(boundaries.includes('out_relu'));
    assert.ok(boundaries.includes('block_15_add'));
    assert.ok(!boundaries.includes('block_15_expand_relu'), 'inside a residual block');
    const last = info.layers.at(-1);
    assert.equal(last.layer, 'out_relu');
    assert.equal(last.prefixParams, 2257984); // MobileNetV2 1.0 without its classifier
    assert.ok(Math.abs(last.prefixShareOfForward - 1) < 1e-9);
    assert.ok(info.totalMflops > 100 && info.totalMflops < 130, `${info.totalMflops} MFLOPs at 96x96`);
    const text = await runCli(['models', 'ls', '--model', 'mobilenet_v2']);
    assert.match(text.stdout, /valid freeze boundaries/);
    assert.match(text.stdout, /^ {2}block_16_project_BN /m);
  });

  it('rejects an unknown model with exit 2', async () => {
    const r = await runCli(['models', 'ls', '--model', 'vgg']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--model: 'vgg' is not a bundled model/);
  });
});

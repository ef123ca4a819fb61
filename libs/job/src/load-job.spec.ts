import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import { applyOverrides, loadJob, validateJob } from './load-job';

const dir = mkdtempSync(join(tmpdir(), 'permafrost-job-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const minimal = { model: { name: 'mlp' }, data: { dataset: 'mnist' } };

function userError(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.equal(e.exitCode, 2);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  };
}

describe('job spec', () => {
  it('fills defaults for every section', () => {
    const job = validateJob(minimal);
    assert.equal(job.train.epochs, 3);
    assert.equal(job.train.batchSize, 32);
    assert.equal(job.freeze.policy, 'prefix');
    assert.equal(job.cache.codec, 'float32');
    assert.equal(job.cluster.localWorkers, 0);
    assert.equal(job.checkpoint.dir, undefined);
    assert.equal(job.train.threads, 'auto');
  });

  it("takes train.threads as a count or 'auto'", () => {
    assert.equal(validateJob({ ...minimal, train: { threads: 2 } }).train.threads, 2);
    assert.throws(() => validateJob({ ...minimal, train: { threads: 'all' } }), userError(/train\.threads/));
    assert.throws(() => validateJob({ ...minimal, train: { threads: 0 } }), userError(/train\.threads/));
  });

  it('reads YAML and JSON and lets flags override fields', async () => {
    const y = file('a.yaml', 'model:\n  name: mlp\ndata:\n  dataset: mnist\ntrain:\n  epochs: 5\n  lr: 0.01\n');
    const j = file('a.json', JSON.stringify({ ...minimal, train: { epochs: 5 } }));
    assert.equal((await loadJob(y, {})).train.lr, 0.01);
    assert.equal((await loadJob(j, {})).train.epochs, 5);
    const o = await loadJob(y, { 'train.epochs': 2, 'model.head': 'gap-64', 'train.seed': undefined });
    assert.equal(o.train.epochs, 2);
    assert.equal(o.train.lr, 0.01);
    assert.equal(o.model.head, 'gap-64');
  });

  it('names the field and what was expected', () => {
    assert.throws(() => validateJob({ ...minimal, train: { batchSize: -4 } }), userError(/train\.batchSize: .*>0.*got -4/));
    assert.throws(() => validateJob({ ...minimal, train: { optimizer: 'sgdd' } }), userError(/train\.optimizer: .*"sgd"\|"adam"/));
    assert.throws(() => validateJob({ ...minimal, trian: {} }), userError(/unknown field trian/));
    assert.throws(() => validateJob({ ...minimal, model: { name: 'mlp', hed: 'gap' } }), userError(/unknown field model\.hed/));
    assert.throws(() => validateJob({ model: { name: 'mlp' } }), userError(/data: expected object/));
    assert.throws(
      () => validateJob({ ...minimal, freeze: { boundary: 'x', trainableLast: 2 } }),
      userError(/one of boundary, trainableLast and k/),
    );
    assert.throws(() => validateJob({ ...minimal, freeze: { policy: 'last-k' } }), userError(/freeze\.k: policy last-k needs k/));
    assert.throws(() => validateJob({ ...minimal, freeze: { k: 2 } }), userError(/freeze\.k: k applies to policies/));
    assert.throws(() => validateJob({ ...minimal, freeze: { policy: 'freezeout', t0: 1.5 } }), userError(/freeze\.t0/));
    assert.throws(() => validateJob({ ...minimal, freeze: { policy: 'none', boundary: 'x' } }), userError(/freeze\.policy: policy none/));
    assert.equal(validateJob({ ...minimal, freeze: { policy: 'none' } }).freeze.policy, 'none');
    assert.deepEqual(validateJob({ ...minimal, freeze: { policy: 'freezeout', k: 4 } }).freeze, {
      policy: 'freezeout',
      k: 4,
      schedule: 'cubic',
      t0: 0.8,
      scaleLr: true,
    });
    assert.throws(() => validateJob({ ...minimal, train: { nesterov: true } }), userError(/train\.nesterov: nesterov needs/));
  });

  it('takes data.augment with defaults and ranges, and cache.views only with input augmentation', () => {
    const standard = { crop: 4, flip: true, brightness: 0.1, contrast: 0.1, featureNoise: 0, featureDropout: 0 };
    assert.equal(validateJob(minimal).data.augment, undefined);
    assert.equal(validateJob(minimal).cache.views, 0);
    assert.deepEqual(validateJob({ ...minimal, data: { dataset: 'mnist', augment: true } }).data.augment, standard);
    assert.deepEqual(validateJob({ ...minimal, data: { dataset: 'mnist', augment: {} } }).data.augment, standard);
    assert.equal(validateJob({ ...minimal, data: { dataset: 'mnist', augment: false } }).data.augment, undefined);
    const aug = (augment: unknown) => ({ ...minimal, data: { dataset: 'mnist', augment } });
    assert.throws(() => validateJob(aug({ crop: 17 })), userError(/data\.augment\.crop: .*<=16.*got 17/));
    assert.throws(() => validateJob(aug({ crop: 1.5 })), userError(/data\.augment\.crop/));
    assert.throws(() => validateJob(aug({ brightness: 0.6 })), userError(/data\.augment\.brightness: .*<=0\.5/));
    assert.throws(() => validateJob(aug({ contrast: -0.1 })), userError(/data\.augment\.contrast: .*>=0/));
    assert.throws(() => validateJob(aug({ featureNoise: 11 })), userError(/data\.augment\.featureNoise/));
    assert.equal(validateJob(aug({ featureDropout: 0.5 })).data.augment?.featureDropout, 0.5);
    assert.throws(() => validateJob(aug({ featureDropout: 1 })), userError(/data\.augment\.featureDropout: .*<1.*got 1$/));
    assert.throws(() => validateJob(aug({ featureDropout: -0.1 })), userError(/data\.augment\.featureDropout: .*>=0/));
    assert.throws(() => validateJob(aug({ flip: 'yes' })), userError(/data\.augment\.flip/));
    assert.throws(() => validateJob(aug({ rotate: 10 })), userError(/unknown field data\.augment\.rotate/));
    assert.equal(validateJob({ ...aug({}), cache: { views: 2 } }).cache.views, 2);
    assert.throws(() => validateJob({ ...aug({}), cache: { views: 17 } }), userError(/cache\.views: .*<=16/));
    assert.throws(() => validateJob({ ...minimal, cache: { views: 2 } }), userError(/cache\.views: needs data\.augment/));
    const noiseOnly = aug({ crop: 0, flip: false, brightness: 0, contrast: 0, featureNoise: 0.1 });
    assert.throws(() => validateJob({ ...noiseOnly, cache: { views: 1 } }), userError(/cache\.views: needs data\.augment/));
    const dropoutOnly = aug({ crop: 0, flip: false, brightness: 0, contrast: 0, featureDropout: 0.2 });
    assert.throws(() => validateJob({ ...dropoutOnly, cache: { views: 1 } }), userError(/cache\.views: needs data\.augment/));
  });

  it('reports malformed files and missing files against the file', async () => {
    await assert.rejects(loadJob(file('bad.yaml', 'model: [unclosed\n  name: x'), {}), userError(/bad\.yaml: malformed YAML/));
    await assert.rejects(loadJob(file('bad.json', '{"model": '), {}), userError(/bad\.json: malformed JSON/));
    await assert.rejects(loadJob(join(dir, 'missing.yaml'), {}), userError(/missing\.yaml: config file not found/));
    await assert.rejects(loadJob(file('list.yaml', '- a\n- b\n'), {}), userError(/mapping of sections/));
  });

  it('applyOverrides creates sections and does not mutate its input', () => {
    const base = { train: { epochs: 1 } };
    const out = applyOverrides(base, { 'train.epochs': 4, 'cache.dir': '/x' });
    assert.deepEqual(out, { train: { epochs: 4 }, cache: { dir: '/x' } });
    assert.deepEqual(base, { train: { epochs: 1 } });
  });

  it('applyOverrides merges a section value into the section the file gave', () => {
    const base = { data: { augment: { crop: 2 } } };
    assert.deepEqual(applyOverrides(base, { 'data.augment': {} }), base);
    assert.deepEqual(applyOverrides({}, { 'data.augment': {}, 'data.augment.flip': false }), { data: { augment: { flip: false } } });
  });
});

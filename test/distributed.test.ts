/**
 * Distributed training with real processes on loopback: a coordinator with 2 and 3 local workers
 * (allreduce over the TCP data plane, and 2 over the gRPC Peer service) matches the single-process run (same seed, same global batch), keeps replicas identical and
 * trains every sample once per epoch (the coordinator checks both each epoch and fails the job
 * otherwise); resume continues from the checkpoint.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import { sharedMemoryUnavailable } from '@permafrost/transport-tcp';
import { checkpointWeights, type JobFlags, jobFlags, maxAbsDiff, readJson, runCli, runPaths, tempDir } from './support';

const tmp = tempDir('distributed');

const job = (name: string, flags: Partial<JobFlags> = {}) =>
  jobFlags({
    model: 'mlp',
    inputSize: 14,
    trainableLast: 2,
    trainSamples: 480,
    valSamples: 60,
    epochs: 2,
    batchSize: 48,
    optimizer: 'sgd',
    lr: 0.2,
    momentum: 0.9,
    seed: 3,
    ...runPaths(tmp.path, name),
    ...flags,
  });

const finalWeights = (name: string) => checkpointWeights(runPaths(tmp.path, name).checkpointDir);
const readReport = (name: string) => readJson(runPaths(tmp.path, name).report);

describe('distributed training', () => {
  let single: Float32Array[];

  before(async () => {
    await initEngine('wasm');
    const r = await runCli(['train', ...job('single')]);
    assert.equal(r.code, 0, r.stderr);
    single = await finalWeights('single');
  });

  // the default transport is the raw TCP data plane; the gRPC Peer service stays selectable
  for (const [n, transport] of [
    [2, 'tcp'],
    [3, 'tcp'],
    [2, 'grpc'],
  ] as const) {
    it(`${n} local workers match the single-process run (allreduce over ${transport})`, async () => {
      const name = `w${n}-${transport}`;
      const flags = transport === 'tcp' ? [] : ['--transport', transport];
      const r = await runCli(['coordinator', 'start', '--local-workers', String(n), ...flags, ...job(name)], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      // workers sharing the host run one XNNPACK thread each (the single run had every core)
      const engines = r.stderr.split('\n').filter((l) => l.includes('"msg":"backend selected"') && l.includes('"requested":"auto"'));
      assert.equal(engines.length, n, r.stderr);
      assert.ok(
        engines.every((l) => l.includes('"threads":1')),
        engines.join('\n'),
      );
      const used = r.stderr.split('\n').filter((l) => l.includes('"msg":"allreduce transport"'));
      assert.equal(used.length, n, r.stderr);
      assert.ok(
        used.every((l) => l.includes(`"transport":"${transport}"`)),
        used.join('\n'),
      );
      if (transport === 'tcp' && (sharedMemoryUnavailable() === undefined || process.env.PERMAFROST_REQUIRE_TOOLS === '1')) {
        // local workers share one host: every gradient chunk goes through shared memory
        const done = r.stderr.split('\n').filter((l) => l.includes('"msg":"worker finished"'));
        assert.equal(done.length, n, r.stderr);
        for (const l of done) {
          const { sharedChunks, wireChunks } = JSON.parse(l).dataPlane;
          assert.ok(sharedChunks > 0 && wireChunks === 0, l);
        }
      }
      const report = readReport(name);
      assert.equal(report.workers, n);
      assert.equal(report.epochs.length, 2);
      for (const e of report.epochs) {
        assert.equal(e.samplesByRank.length, n);
        assert.equal(
          e.samplesByRank.reduce((a: number, b: number) => a + b, 0),
          480,
        );
        assert.ok(e.samplesByRank.every((s: number) => s > 0));
      }
      assert.equal(report.epochs[0].cacheMisses, 480);
      assert.equal(report.epochs[1].cacheHits, 480);
      const d = maxAbsDiff(await finalWeights(name), single);
      assert.ok(d < 1e-4, `max weight difference to the single-process run: ${d}`);
      const singleReport = readReport('single');
      assert.ok(Math.abs(report.final.valAccuracy - singleReport.final.valAccuracy) < 0.02);
    });
  }

  it('resumes from the latest checkpoint and ends where an uninterrupted run ends', async () => {
    const three = await runCli(['coordinator', 'start', '--local-workers', '2', ...job('three', { epochs: 3 })], {
      timeoutMs: 120_000,
    });
    assert.equal(three.code, 0, three.stderr);
    const first = await runCli(['coordinator', 'start', '--local-workers', '2', ...job('resumed')], { timeoutMs: 120_000 });
    assert.equal(first.code, 0, first.stderr);
    const again = await runCli(['coordinator', 'start', '--local-workers', '2', '--resume', ...job('resumed', { epochs: 3 })], {
      timeoutMs: 120_000,
    });
    assert.equal(again.code, 0, again.stderr);
    const report = readReport('resumed');
    assert.equal(report.resumedFromEpoch, 2);
    assert.deepEqual(
      report.epochs.map((e: { epoch: number }) => e.epoch),
      [3],
    );
    const d = maxAbsDiff(await finalWeights('resumed'), await finalWeights('three'));
    assert.ok(d < 1e-4, `resumed vs uninterrupted: ${d}`);
    const nothing = await runCli(['coordinator', 'start', '--local-workers', '2', '--resume', ...job('resumed', { epochs: 3 })]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /nothing to resume/);
  });
});

/**
 * docs/benchmarks.md and README.md's headline table are generated from test/bench/results/*.json
 * (`npm run bench:report`): the committed files must be exactly what the generator writes now,
 * and a benchmark without a result file must not break the report.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freezeoutScratch } from './bench/report/freezeout-scratch';
import { renderReport } from './bench/report/render';
import { ROOT } from './support';

const GENERATOR = join(ROOT, 'test/bench/report/main.ts');
const tmp = mkdtempSync(join(tmpdir(), 'permafrost-bench-report-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const generate = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', GENERATOR, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

describe('npm run bench:report', () => {
  it("writes exactly the committed docs/benchmarks.md, README headline table and security doc's TLS cost", () => {
    const out = join(tmp, 'benchmarks.md');
    const readme = join(tmp, 'README.md');
    const security = join(tmp, 'security.md');
    copyFileSync(join(ROOT, 'README.md'), readme);
    copyFileSync(join(ROOT, 'docs/security.md'), security);
    const r = generate(['--out', out, '--readme', readme, '--security', security]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(out, 'utf8'), readFileSync(join(ROOT, 'docs/benchmarks.md'), 'utf8'), 'run `npm run bench:report`');
    assert.equal(readFileSync(readme, 'utf8'), readFileSync(join(ROOT, 'README.md'), 'utf8'), 'run `npm run bench:report`');
    assert.equal(readFileSync(security, 'utf8'), readFileSync(join(ROOT, 'docs/security.md'), 'utf8'), 'run `npm run bench:report`');
    assert.match(readFileSync(security, 'utf8'), /\| tls \/ tcp +\|/, 'the TLS cost table, from results/allreduce-tls.json');
  });

  it('--check fails and names the file when a generated file is out of date', () => {
    const stale = join(tmp, 'stale.md');
    writeFileSync(stale, '# Benchmarks\n');
    const r = generate(['--out', stale, '--readme', '-', '--security', '-', '--check']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /stale\.md is out of date/);
    assert.equal(readFileSync(stale, 'utf8'), '# Benchmarks\n', '--check writes nothing');
  });

  it('says "not run yet" for a benchmark without a result file, and is deterministic', () => {
    const bench = mkdtempSync(join(tmp, 'bench-'));
    const results = mkdtempSync(join(tmp, 'results-'));
    writeFileSync(join(bench, 'newbench.ts'), '');
    copyFileSync(join(ROOT, 'test/bench/results/kernels.json'), join(results, 'kernels.json'));
    const report = renderReport(bench, results);
    assert.equal(renderReport(bench, results), report);
    assert.match(report, /## newbench\n\nNot run yet: `npx nx run bench:newbench`/);
    assert.match(report, /## scaling\n\nCompares [^\n]*\n\nNot run yet/);
    const { date } = JSON.parse(readFileSync(join(results, 'kernels.json'), 'utf8')) as { date: string };
    assert.match(report, new RegExp(`## kernels\\n[\\s\\S]*- date: ${date.slice(0, 10)}`));
  });

  it('freezeout-scratch names its augmentation: none for a result without the field, else the transforms and the views', () => {
    const plain = JSON.parse(readFileSync(join(ROOT, 'test/bench/results/freezeout-scratch.json'), 'utf8')) as Record<string, unknown>;
    delete plain.augment;
    delete plain.views;
    const none = freezeoutScratch.render(plain).join('\n');
    assert.match(none, /- command: `[^`]* --augment off`/);
    assert.match(none, /- augmentation: none /);
    const augmented = { ...plain, augment: { crop: 4, flip: true, brightness: 0.1, contrast: 0.1 }, views: 3 };
    const text = freezeoutScratch.render(augmented).join('\n');
    assert.match(text, /- command: `[^`]* --views 3`/);
    assert.match(text, /- augmentation: random crop with 4 px zero padding, horizontal flip, brightness ±0\.1, contrast ±0\.1 /);
    assert.match(text, /\(c\) and the sweep 3 fixed augmented views per sample, cached \(`cache\.views: 3`\)/);
    assert.match(text, /where 3 cached views take up to 3/);
  });
});

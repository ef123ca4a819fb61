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
    delete plain.rounds;
    const none = freezeoutScratch.render(plain).join('\n');
    assert.match(none, /- command: `[^`]* --augment off`/);
    assert.match(none, /- augmentation: none /);
    const augmented = { ...plain, augment: { crop: 4, flip: true, brightness: 0.1, contrast: 0.1 }, views: 3 };
    const text = freezeoutScratch.render(augmented).join('\n');
    assert.match(text, /- command: `[^`]* --views 3`/);
    assert.match(text, /- augmentation: random crop with 4 px zero padding, horizontal flip, brightness ±0\.1, contrast ±0\.1 /);
    assert.match(
      text,
      /\(c\) and the sweep the same until their first freeze, then 3 fixed augmented views per sample, cached \(`cache\.views: 3`\)/,
    );
    assert.match(text, /where 3 cached views take up to 3/);
    // one view in (c), two in one sweep row: the caveat names the row's count
    const sweep = (plain.sweep as Record<string, unknown>[]).map((v) => ({ ...v, views: 1 }));
    const one = { ...augmented, views: 1, sweep };
    assert.doesNotMatch(freezeoutScratch.render(one).join('\n'), /cached views take up to|views column/);
    const mixed = freezeoutScratch.render({ ...one, sweep: [...sweep, { ...sweep[0], views: 2 }] }).join('\n');
    assert.match(mixed, /where 2 cached views take up to 2/);
    assert.match(mixed, /each epoch training on one of them \(the sweep's views column names the rows that differ\)/);
  });

  it("freezeout-scratch: the ceiling takes (b)'s upstream and validation time out of its frozen epochs only; none without the per-epoch time", () => {
    const plain = JSON.parse(readFileSync(join(ROOT, 'test/bench/results/freezeout-scratch.json'), 'utf8')) as {
      results: Record<string, Record<string, unknown>>;
    };
    const epoch = (boundary: string, prefixSeconds: number, valSeconds: number, hits = 0) => ({
      epoch: 1,
      seconds: 10,
      valSeconds,
      boundary,
      prefixSeconds,
      cacheHits: hits,
      cacheMisses: 64 - hits,
    });
    const r = {
      ...plain,
      // one round: the results alone; (c) with two views
      rounds: undefined,
      views: 2,
      foreignCpu: [0, 0, 0],
      results: {
        none: { ...plain.results.none, wallSeconds: 100 },
        // 80 - (5 + 1) - (4 + 1) = 69: the input epoch's 2 + 1 s stay, (c) pays them too
        paper: {
          ...plain.results.paper,
          wallSeconds: 80,
          epochs: [epoch('input', 2, 1), epoch('stem_out', 5, 1), epoch('stage1_out', 4, 1)].map((e, i) => ({ ...e, epoch: i + 1 })),
        },
        cached: {
          ...plain.results.cached,
          wallSeconds: 75,
          epochs: [epoch('input', 2, 1), epoch('stem_out', 1, 1, 0), epoch('stage1_out', 1, 1, 48)].map((e, i) => ({ ...e, epoch: i + 1 })),
        },
      },
    };
    const text = freezeoutScratch.render(r).join('\n');
    assert.match(text, /Ceiling: 1\.45x, /);
    // the one-pass bound adds (b)'s last upstream time back: 100 / (69 + 4) = 1.37x
    assert.match(text, /One-pass bound: 1\.37x, .*up to once per view with 2 views/);
    // the input epochs (10 s training, 1 s validation) took the same time in (b) and (c)
    assert.match(text, /took 0% apart at most here\./);
    assert.match(text, /read from the cache, per epoch: 0 \/ 0 \/ 48 \(of 64;/);
    assert.match(freezeoutScratch.headline(r).figure, /: 1\.33x \(ceiling 1\.45x, one-pass bound 1\.37x\)$/);
    // three rounds: the ceilings 1.45x, 100 / (60 - 11) = 2.04x and 100 / (90 - 11) = 1.27x have the median 1.45x;
    // the one-pass bounds 1.37x, 100 / 53 = 1.89x and 100 / 83 = 1.20x the median 1.37x
    const round = (paper: number, cached: number) => ({
      none: r.results.none,
      paper: { ...r.results.paper, wallSeconds: paper },
      cached: { ...r.results.cached, wallSeconds: cached },
    });
    const slow = round(90, 110);
    // (c)'s input epoch 13.2 s to (b)'s 11 s: 20% apart
    slow.cached = { ...slow.cached, epochs: [{ ...epoch('input', 2, 1), seconds: 12.2 }, ...slow.cached.epochs.slice(1)] };
    const three = { ...r, rounds: [r.results, round(60, 50), slow] };
    const spread = freezeoutScratch.render(three).join('\n');
    assert.match(spread, /took 20% apart at most in a round here\./);
    assert.match(
      spread,
      /3 rounds of \(a\), \(b\), \(c\) in turn; .* \(a\) \/ \(c\) 0\.91x \/ 1\.33x \/ 2\.00x; \(a\) \/ \(b\) 1\.11x \/ 1\.25x \/ 1\.67x; the ceiling \(below\) 1\.27x \/ 1\.45x \/ 2\.04x; the one-pass bound 1\.20x \/ 1\.37x \/ 1\.89x\./,
    );
    assert.match(spread, /Ceiling \(median over the rounds\): 1\.45x, /);
    assert.match(spread, /One-pass bound \(median over the rounds\): 1\.37x, /);
    assert.match(spread, /- command: `[^`]* --rounds 3`/);
    const old = { ...r, results: { ...r.results, paper: { ...r.results.paper, epochs: [{ epoch: 1, seconds: 10 }] } } };
    assert.doesNotMatch(freezeoutScratch.render(old).join('\n'), /Ceiling|One-pass/);
  });

  it('start-tls: medians, spreads and the ratio from the runs; not judged while the load exceeded the vCPUs', () => {
    const results = mkdtempSync(join(tmp, 'results-'));
    const run = (variant: string, wallSeconds: number) => ({ variant, wallSeconds, trainSeconds: wallSeconds / 2, valAccuracy: 0.9 });
    const result = (load: number[]) => ({
      date: '2026-12-05T01:00:00.000Z',
      machine: { cpus: 2 },
      job: { config: 'examples/mnist.yaml', localWorkers: 2, overrides: [] },
      rounds: 3,
      cache: 'warm',
      load,
      runs: [run('tls', 10), run('plaintext', 10), run('tls', 12), run('plaintext', 20), run('tls', 11), run('plaintext', 10.5)],
    });
    const section = (load: number[]) => {
      writeFileSync(join(results, 'start-tls.json'), JSON.stringify(result(load)));
      const report = renderReport(join(ROOT, 'test/bench'), results);
      return report.slice(report.indexOf('## start-tls'));
    };
    const quiet = section([1.2, 1.5]);
    // TLS: median 11, spread 2/11; plaintext: median 10.5, spread 10/10.5; 11 / 10.5 - 1 = +4.8%
    assert.match(quiet, /\| TLS \(the default: ephemeral CA\) +\| 10\.0 \/ 12\.0 \/ 11\.0 +\| 11\.00 +\| 18% +\| 5\.50 /);
    assert.match(quiet, /\| plaintext \(`--insecure`\) +\| 10\.0 \/ 20\.0 \/ 10\.5 +\| 10\.50 +\| 95% +\| 5\.25 /);
    assert.match(quiet, /\| npm start run time, TLS \/ plaintext \| \+4\.8% +\| < \+5% +\| met /);
    assert.match(
      section([1.2, 2.5]),
      /\| \+4\.8% +\| < \+5% +\| not judged \(machine loaded\) \|[\s\S]*Verdict: not judged: the load average reached 2\.5/,
    );
  });
});

// Runs the node:test files under a directory (*.spec.ts beside the code, *.test.ts in test/),
// prints the spec reporter, and records pass/fail counts in tmp/test-results/<name>.json so that
// `npm test` can print one closing line for the whole workspace.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [name, ...dirs] = process.argv.slice(2);
if (!name || dirs.length === 0) throw new Error('usage: run-tests.mjs <name> <dir>...');
const pattern = /\.(spec|test)\.ts$/;
const files = [];
const walk = (d) => {
  for (const e of readdirSync(d).sort()) {
    const p = join(d, e);
    // benchmarks and the container tests have their own commands (nx run bench:*, npm run test:containers)
    if (e === 'node_modules' || e === 'bench' || e === 'containers') continue;
    if (statSync(p).isDirectory()) walk(p);
    else if (pattern.test(e)) files.push(p);
  }
};
for (const d of dirs) walk(d);
mkdirSync('tmp/test-results', { recursive: true });
const out = join('tmp/test-results', `${name}.json`);
const tap = join('tmp/test-results', `${name}.tap`);
if (files.length === 0) {
  writeFileSync(out, JSON.stringify({ name, files: 0, pass: 0, fail: 0 }));
  console.log(`${name}: no test files`);
  process.exit(0);
}
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, PERMAFROST_LOG: process.env.PERMAFROST_LOG ?? 'silent' } },
);
const text = readFileSync(tap, 'utf8');
const count = (k) => Number(text.match(new RegExp(`^# ${k} (\\d+)$`, 'm'))?.[1] ?? 0);
const result = { name, files: files.length, pass: count('pass'), fail: count('fail') + count('cancelled') };
rmSync(tap, { force: true });
writeFileSync(out, JSON.stringify(result));
process.exit(r.status ?? 1);

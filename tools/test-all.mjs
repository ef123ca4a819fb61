// `npm test`: every project's lint, typecheck, build and test targets through Nx, then one
// closing line summing the test counts that tools/run-tests.mjs recorded per project.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const dir = 'tmp/test-results';
rmSync(dir, { recursive: true, force: true });
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const nx = spawnSync(
  'npx',
  ['nx', 'run-many', '-t', 'lint', 'typecheck', 'build', 'test', '--outputStyle=stream', ...process.argv.slice(2)],
  {
    stdio: 'inherit',
    env,
  },
);
let pass = 0;
let fail = 0;
let files = 0;
if (existsSync(dir)) {
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    pass += r.pass;
    fail += r.fail;
    files += r.files;
  }
}
const status = nx.status ?? 1;
console.log(`\n${files} test files; nx exit ${status}`);
console.log(`tests: ${pass} passed, ${fail} failed`);
process.exit(status === 0 && fail === 0 ? 0 : 1);

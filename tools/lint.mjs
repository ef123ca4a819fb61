// Lints one project: biome (format + lint, warnings are errors) and the module-boundary rules.
import { spawnSync } from 'node:child_process';

const root = process.argv[2];
if (!root) throw new Error('usage: lint.mjs <projectRoot>');
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;
let status = run('npx', ['biome', 'check', '--error-on-warnings', root]);
status ||= run('npx', ['depcruise', '--config', '.dependency-cruiser.cjs', root]);
process.exit(status);

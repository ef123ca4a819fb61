#!/usr/bin/env node
// Entry point: runs the CLI from TypeScript source through tsx, or from the bundle that
// `nx build cli` writes to dist/ when PERMAFROST_DIST=1.
import { register } from 'tsx/esm/api';

let main;
if (process.env.PERMAFROST_DIST === '1') {
  ({ main } = await import('../dist/apps/cli/index.js'));
} else {
  register();
  ({ main } = await import('../apps/cli/src/index.ts'));
}
const code = await main(process.argv.slice(2));
// The wasm backend keeps handles open; a finished command exits explicitly.
process.exit(code);

// Bundles one project's public entry (src/index.ts) into dist/<project>.
// npm packages and other @permafrost libs stay external: a lib's build is its own code only.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = process.argv[2];
if (!root) throw new Error('usage: build.mjs <projectRoot>');
const entry = ['src/index.ts'].map((e) => join(root, e)).find((e) => existsSync(e));
if (!entry) throw new Error(`${root}: no src/index.ts`);
await build({
  entryPoints: [entry],
  outdir: join('dist', root),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  packages: 'external',
  logLevel: 'warning',
});

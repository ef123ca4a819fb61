// Builds the data plane's shared-memory module (libs/transport-tcp/native) with the system's C
// compiler against Node's own headers; `npm ci` runs it (postinstall). Without a compiler or the
// headers it says so and exits 0: the data plane then runs on TCP alone. PERMAFROST_REQUIRE_TOOLS=1
// (CI) makes that an error instead.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', 'libs', 'transport-tcp', 'native');
const out = join(root, 'build', 'shared-memory.node');
const candidates = [
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
  join(dirname(dirname(process.execPath)), 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const include = candidates.find((d) => existsSync(join(d, 'node_api.h')));
const compiler = process.env.CC || 'cc';

function give(why) {
  const message = `build-native: ${why}; the data plane will use TCP only (no shared memory between local workers)`;
  if (process.env.PERMAFROST_REQUIRE_TOOLS === '1') {
    console.error(message);
    process.exit(1);
  }
  console.warn(message);
  process.exit(0);
}

if (process.platform !== 'linux') give(`shared memory needs Linux (memfd), not ${process.platform}`);
if (!include) give(`no node_api.h in ${candidates.join(', ')}`);
mkdirSync(dirname(out), { recursive: true });
try {
  execFileSync(
    compiler,
    [
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-shared',
      '-fPIC',
      '-DNODE_GYP_MODULE_NAME=shared_memory',
      `-I${include}`,
      join(root, 'shared-memory.c'),
      '-o',
      out,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
} catch (e) {
  give(`${compiler} failed (${e.message.split('\n')[0]})`);
}
console.log(`build-native: built ${out}`);

// Builds the project's native modules with the system's C compiler against Node's own headers;
// `npm ci` runs it (postinstall):
//   libs/transport-tcp/native/shared-memory.c  the data plane's shared memory between local ranks
//   libs/telemetry/native/stderr-capture.c     native libraries' stderr lines as JSON log lines
//   libs/engine/native/blas-gemm.c             the wasm backend's matrix products on OpenBLAS
// Without a compiler or the headers it says what each missing module costs and exits 0: the data
// plane then runs on TCP alone, and LMDB's rare stderr lines stay raw. PERMAFROST_REQUIRE_TOOLS=1
// (CI) makes that an error instead.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const libs = resolve(import.meta.dirname, '..', 'libs');
const modules = [
  {
    name: 'shared_memory',
    source: join(libs, 'transport-tcp', 'native', 'shared-memory.c'),
    out: join(libs, 'transport-tcp', 'native', 'build', 'shared-memory.node'),
    without: 'the data plane will use TCP only (no shared memory between local workers)',
    libraries: [],
  },
  {
    name: 'stderr_capture',
    source: join(libs, 'telemetry', 'native', 'stderr-capture.c'),
    out: join(libs, 'telemetry', 'native', 'build', 'stderr-capture.node'),
    without: "native libraries' stderr lines (LMDB's) will not be wrapped as JSON log lines",
    libraries: ['-pthread'],
  },
  {
    name: 'blas_gemm',
    source: join(libs, 'engine', 'native', 'blas-gemm.c'),
    out: join(libs, 'engine', 'native', 'build', 'blas-gemm.node'),
    without: "the wasm backend's matrix products will run on XNNPACK only (no OpenBLAS)",
    libraries: ['-ldl'],
  },
];
const candidates = [
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
  join(dirname(dirname(process.execPath)), 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const include = candidates.find((d) => existsSync(join(d, 'node_api.h')));
const compiler = process.env.CC || 'cc';
let failed = false;

function give(why, without) {
  const message = `build-native: ${why}; ${without}`;
  if (process.env.PERMAFROST_REQUIRE_TOOLS === '1') {
    console.error(message);
    failed = true;
  } else {
    console.warn(message);
  }
}

function build(m) {
  if (process.platform !== 'linux') return give(`the native modules need Linux, not ${process.platform}`, m.without);
  if (!include) return give(`no node_api.h in ${candidates.join(', ')}`, m.without);
  mkdirSync(dirname(m.out), { recursive: true });
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
        `-DNODE_GYP_MODULE_NAME=${m.name}`,
        `-I${include}`,
        m.source,
        '-o',
        m.out,
        ...m.libraries,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  } catch (e) {
    return give(`${compiler} failed (${e.message.split('\n')[0]})`, m.without);
  }
  console.log(`build-native: built ${m.out}`);
}

for (const m of modules) build(m);
process.exit(failed ? 1 : 0);

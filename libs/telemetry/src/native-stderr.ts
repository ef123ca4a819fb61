/**
 * Native libraries' stderr lines as JSON log lines. LMDB's C code prints a few diagnostics with
 * fprintf(stderr, ...) (`mdb_page_spill flushing error 5`, `page N not found error`); off a
 * terminal, where every stderr line is one JSON object, such a line would break the format. The
 * native module (native/stderr-capture.c) points C's `stderr` stream at a pipe whose native
 * reader thread writes each line to fd 2 as `{"time","level":"warn","msg","source":"native"}`.
 * Node's own writes to fd 2 (the logger, the one-line `permafrost: ...` errors) and child
 * processes are untouched; each permafrost process installs its own.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type LogLevel, logFormat, logLevel } from './logger';

interface Native {
  install(quiet: boolean): true | string;
  print(text: string): void;
}

let native: Native | undefined;
let loadError: string | undefined;
function load(): Native | undefined {
  if (native || loadError) return native;
  try {
    const require = createRequire(import.meta.url);
    // the package's entry is src/index.ts, from source and from the bundle alike
    const root = dirname(dirname(require.resolve('@permafrost/telemetry')));
    native = require(join(root, 'native', 'build', 'stderr-capture.node')) as Native;
  } catch (e) {
    loadError = `the native module is not built (npm ci builds it with a C compiler): ${(e as Error).message}`;
  }
  return native;
}

const QUIET: ReadonlySet<LogLevel | 'silent'> = new Set(['error', 'silent']);

/**
 * Wraps native stderr lines as JSON log lines when the logs are JSON (stderr is not a terminal);
 * at log level error or silent they are dropped like any warning. Returns undefined when the
 * capture is in place or not wanted (text logs), else why it could not be installed.
 */
export function captureNativeStderr(): string | undefined {
  if (logFormat() !== 'json') return undefined;
  const m = load();
  if (!m) return loadError;
  const r = m.install(QUIET.has(logLevel()));
  return r === true ? undefined : r;
}

/** Writes `text` with C's fprintf(stderr, ...): what a native library's diagnostic does (tests). */
export function printNativeStderr(text: string): void {
  const m = load();
  if (!m) throw new Error(loadError);
  m.print(text);
}

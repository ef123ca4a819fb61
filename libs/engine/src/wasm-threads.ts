/**
 * XNNPACK's thread pool for the wasm backend in Node. @tensorflow/tfjs-backend-wasm ships a
 * threaded SIMD binary (emscripten pthreads, which in Node run on worker_threads over a
 * SharedArrayBuffer heap), but three things keep it from starting there, each bridged here for
 * the duration of the backend's initialisation only:
 *
 * 1. tfjs reports no thread support in Node (its WASM_HAS_MULTITHREAD_SUPPORT flag returns false
 *    when IS_NODE): the flag is set to true.
 * 2. tfjs hands emscripten the pthread worker script as a Blob URL (blob:nodedata:...), which
 *    Node's Worker refuses (ERR_WORKER_PATH), and the main script as a Blob, which the worker
 *    cannot load either: both scripts are written to a temporary directory (the worker's
 *    prefixed so that it loads the main script from its file), and URL.createObjectURL returns
 *    the worker's path for the worker's Blob.
 * 3. tfjs's native init halves emscripten_num_logical_cores() (os.cpus().length in Node,
 *    assuming two hyperthreads per core) and caps the pool there, so on a 2-vCPU machine it
 *    always gets one thread: os.cpus() reports every CPU twice while the module starts.
 *
 * The pool then has min(threads, 8, CPUs) threads (8 workers are created up front). The files
 * are removed once the backend is up: every worker has loaded them by then. Emscripten keeps a
 * running pthread's worker referenced, and the pool's threads run until the process ends, so
 * they are unreferenced once started: otherwise no process that used them would ever exit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

interface WasmPackage {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/**
 * The pool size a `threads` setting asks for; `auto` is every CPU this process may run on
 * (os.availableParallelism). The one place `auto` is resolved: `train.threads` and
 * `worker start --threads` default to it, and the coordinator starts several local workers with 1.
 */
export function resolveThreads(threads: number | 'auto'): number {
  return threads === 'auto' ? Math.max(1, os.availableParallelism()) : threads;
}

/** Lets the process exit while the pool's worker threads wait for work. */
function unrefPoolWorkers(): void {
  const module = (tf.findBackend('wasm') as unknown as { wasm?: { PThread?: { runningWorkers?: { unref(): void }[] } } }).wasm;
  for (const worker of module?.PThread?.runningWorkers ?? []) worker.unref();
}

/** Runs `init` (which initialises the wasm backend) with a pool of `threads`; returns the pool's size. */
export async function withWasmThreads(wasm: WasmPackage, threads: number, init: () => Promise<boolean>): Promise<boolean> {
  const out = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
  const { wasmWorkerContents } = require(join(out, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const factory = require(join(out, 'tfjs-backend-wasm-threaded-simd.js')) as () => unknown;
  const dir = mkdtempSync(join(os.tmpdir(), 'permafrost-wasm-threads-'));
  const mainPath = join(dir, 'main.js');
  const workerPath = join(dir, 'worker.js');
  writeFileSync(mainPath, `var WasmBackendModuleThreadedSimd = ${factory.toString()};`);
  // tfjs escapes the script's newlines the same way before it makes its Blob
  const prelude = `URL.createObjectURL = () => ${JSON.stringify(mainPath)}; URL.revokeObjectURL = () => {};\n`;
  writeFileSync(workerPath, prelude + wasmWorkerContents.replace(/\n/g, '\\n'));
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  URL.createObjectURL = (blob: Blob) => (blob?.type === 'application/javascript' ? workerPath : createObjectURL(blob));
  os.cpus = () => {
    const all = cpus();
    return [...all, ...all];
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  try {
    const ok = await init();
    if (ok) unrefPoolWorkers();
    return ok;
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    rmSync(dir, { recursive: true, force: true });
  }
}

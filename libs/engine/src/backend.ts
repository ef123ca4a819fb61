/**
 * Backend choice. `auto` tries, in order, tensorflow-gpu (@tensorflow/tfjs-node-gpu), tensorflow
 * (@tensorflow/tfjs-node), wasm and cpu, and takes the first that loads. The native packages are
 * optionalDependencies: a cluster image installs them, a machine without libtensorflow does not,
 * and then wasm (SIMD, about 17x the pure-JS cpu backend) is the default. This is the only
 * module in the workspace that imports a backend package. Loading wasm also registers the conv
 * gradient kernels it lacks (./wasm-kernels), so conv layers train on it, with threads > 1
 * starts XNNPACK's thread pool (./wasm-threads), and opens the host's OpenBLAS for its matrix
 * products where it is installed (./native-gemm), with as many threads.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { log, UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemmInfo, setNativeGemmThreads } from './native-gemm';
import { registerWasmGradientKernels } from './wasm-kernels/register';
import { resolveThreads, withWasmThreads } from './wasm-threads';

export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export type ConcreteBackend = Exclude<BackendChoice, 'auto'>;

export interface EngineInfo {
  /** what was asked for */
  requested: BackendChoice;
  /** what runs */
  backend: ConcreteBackend;
  /** tfjs's own name of the registered backend */
  tfBackend: string;
  tfjsVersion: string;
  /** XNNPACK's threads (wasm; 1 elsewhere) */
  threads: number;
  /** wasm: the library that runs matrix products besides XNNPACK (OpenBLAS's file name), if any */
  gemmLibrary?: string;
}

export interface EngineOptions {
  /**
   * wasm: XNNPACK threads (default 1, the single-threaded SIMD binary), `auto`: every CPU
   * (resolveThreads); other backends ignore it. Like the backend, fixed by a process's first
   * initialisation.
   */
  threads?: number | 'auto';
}

const require = createRequire(import.meta.url);

async function loadNative(pkg: string): Promise<boolean> {
  try {
    await import(pkg);
    return tf.findBackend('tensorflow') != null;
  } catch {
    return false;
  }
}

const loaders: Record<ConcreteBackend, (opts: EngineOptions) => Promise<string | undefined>> = {
  'tensorflow-gpu': async () => ((await loadNative('@tensorflow/tfjs-node-gpu')) ? 'tensorflow' : undefined),
  tensorflow: async () => ((await loadNative('@tensorflow/tfjs-node')) ? 'tensorflow' : undefined),
  wasm: async (opts) => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // In Node the .wasm binaries are read from the package directory, never fetched.
    const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    wasm.setWasmPaths(`${join(dir, 'dist')}/`);
    registerWasmGradientKernels();
    const threads = resolveThreads(opts.threads ?? 1);
    if (threads > 1 && !(await withWasmThreads(wasm, threads, () => setReady('wasm')))) return undefined;
    setNativeGemmThreads(threads);
    return 'wasm';
  },
  cpu: async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    return 'cpu';
  },
};

let current: EngineInfo | undefined;

async function setReady(name: string): Promise<boolean> {
  if (!(await tf.setBackend(name))) return false;
  await tf.ready();
  return true;
}

function threadsOf(backend: ConcreteBackend): number {
  if (backend !== 'wasm') return 1;
  const wasm = require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number };
  return wasm.getThreadsCount();
}

/** Selects and initialises a backend once per process; later calls must agree or get the first. */
export async function initEngine(requested: BackendChoice = 'auto', opts: EngineOptions = {}): Promise<EngineInfo> {
  if (current && (requested === 'auto' || requested === current.backend)) return current;
  if (!BACKENDS.includes(requested)) {
    throw new UserError(`unknown backend '${requested}', expected one of ${BACKENDS.join('|')}`, 'backend');
  }
  // Production mode: no console nags about installing tfjs-node, no debug-only checks.
  tf.enableProdMode();
  const order: ConcreteBackend[] = requested === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [requested];
  for (const b of order) {
    const name = await loaders[b](opts);
    if (name && (await setReady(name))) {
      const gemm = b === 'wasm' ? nativeGemmInfo() : {};
      current = { requested, backend: b, tfBackend: name, tfjsVersion: tf.version_core, threads: threadsOf(b), gemmLibrary: gemm.library };
      log().info('backend selected', { backend: b, requested, threads: current.threads, gemm: gemm.library ?? gemm.unavailable });
      return current;
    }
  }
  const pkg = requested === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  throw new UserError(
    `backend '${requested}' is not available on this machine (install ${pkg}, which needs libtensorflow, or use --backend auto|wasm|cpu)`,
    'backend',
  );
}

export function engineInfo(): EngineInfo | undefined {
  return current;
}

/** Kernels of `names` that the active backend has not registered. */
export function missingKernels(names: readonly string[]): string[] {
  const backend = tf.getBackend();
  return names.filter((k) => tf.getKernel(k, backend) === undefined);
}

/**
 * The host's OpenBLAS for the matrix products of the wasm backend's training steps
 * (native/blas-gemm.c, built by `npm ci`). XNNPACK in wasm has no FMA and runs a GEMM at about a
 * quarter of OpenBLAS's speed on the same cores, and 1x1 convolutions and their gradients are
 * most of a MobileNetV2 training step. Where the module is built and OpenBLAS loads, those
 * products run on it (wasm-kernels/native-matmul.ts, which says which and why forward passes
 * outside training stay on XNNPACK); anywhere else on XNNPACK, with the same results to float
 * tolerance.
 *
 * PERMAFROST_BLAS names the library (a file name dlopen resolves, or a path); `off` keeps
 * XNNPACK. Without it, libopenblas.so.0 then libopenblas.so are tried (Debian's libopenblas0).
 * OpenBLAS's threads follow XNNPACK's: the same count, so a local worker started with 1 thread
 * uses one core for both; OPENBLAS_NUM_THREADS overrides that.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fusedWasmKernels } from './wasm-kernels/fused-switch';

interface Native {
  open(path: string): string;
  setThreads(n: number): void;
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    batch: number,
    strideA: number,
    strideB: number,
  ): void;
  biasActivation(c: Float32Array, cols: number, bias: Float32Array | null, activation: number, alpha: number): void;
}

export type NativeGemm = Pick<Native, 'gemm' | 'biasActivation'>;

export interface NativeGemmInfo {
  /** the library that runs the products, or undefined when XNNPACK does */
  library?: string;
  /** OpenBLAS's configuration string (its kernels and thread limit) */
  config?: string;
  /** why XNNPACK runs them, when it does */
  unavailable?: string;
}

const DEFAULT_LIBRARIES = ['libopenblas.so.0', 'libopenblas.so'];

/** `native` only where a library is open */
interface State {
  native?: Native;
  info: NativeGemmInfo;
}

let loaded: State | undefined;

function load(): State {
  let native: Native;
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(dirname(require.resolve('@permafrost/engine')));
    native = require(join(root, 'native', 'build', 'blas-gemm.node')) as Native;
  } catch (e) {
    return {
      info: { unavailable: `the native module is not built (npm ci builds it with a C compiler): ${(e as Error).message.split('\n')[0]}` },
    };
  }
  const wanted = process.env.PERMAFROST_BLAS;
  if (wanted === 'off') return { info: { unavailable: 'PERMAFROST_BLAS=off' } };
  const tried: string[] = [];
  for (const library of wanted ? [wanted] : DEFAULT_LIBRARIES) {
    try {
      return { native, info: { library, config: native.open(library).trim() } };
    } catch (e) {
      tried.push(`${library}: ${(e as Error).message}`);
    }
  }
  return { info: { unavailable: `no OpenBLAS (${tried.join('; ')})` } };
}

function state(): State {
  loaded ??= load();
  return loaded;
}

/**
 * The native products, or undefined where they are unavailable or switched off: they follow
 * useFusedWasmKernels, so a benchmark times both sides in one process.
 */
export function nativeGemm(): NativeGemm | undefined {
  return fusedWasmKernels() ? state().native : undefined;
}

/** What runs the wasm backend's matrix products in this process. */
export function nativeGemmInfo(): NativeGemmInfo {
  return state().info;
}

/**
 * OpenBLAS's thread count, set to XNNPACK's when the wasm backend starts; OPENBLAS_NUM_THREADS,
 * where set, wins (OpenBLAS reads it when it loads).
 */
export function setNativeGemmThreads(threads: number): void {
  if (!process.env.OPENBLAS_NUM_THREADS) state().native?.setThreads(Math.max(1, threads));
}

/**
 * One switch for the fused wasm kernels (FusedBatchNorm, the per-channel Sum and Mean, and the
 * fused relu6, clipByValue and batch-norm gradients, and the matrix products on OpenBLAS,
 * ../native-gemm.ts): off, each goes back to what the
 * backend and tfjs do on their own, in the same process, so a benchmark can time both side by
 * side under the same load. On by default; training never turns it off.
 */
let enabled = true;

export function useFusedWasmKernels(on: boolean): void {
  enabled = on;
}

export function fusedWasmKernels(): boolean {
  return enabled;
}

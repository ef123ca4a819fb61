/**
 * The cpu backend's side of the kernels benchmark's rows for libs/engine's fused gradient kernels
 * (FusedBatchNormGrad, ClipByValueGrad, Relu6Grad), which exist on wasm only: registered here for
 * the cpu backend under the same names, each runs tfjs's own gradient (the registered gradient
 * falls back to it on any backend but wasm), so a row times and checks the fused kernel against
 * what tfjs computes there. Only the benchmark imports this.
 */
import * as tf from '@tensorflow/tfjs-core';

type Args = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap };

function tensor(args: Args, name: string): tf.Tensor {
  const info = args.inputs[name];
  if (!info) throw new Error(`missing input ${name}`);
  return info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info);
}

function stockGradient(forward: string, saved: string[], outputs: string[]): tf.KernelFunc {
  return ((args: Args) => {
    const gradient = tf.getGradient(forward);
    if (!gradient) throw new Error(`no gradient for ${forward}`);
    const grads = gradient.gradFunc(
      tensor(args, 'dy'),
      saved.map((n) => tensor(args, n)),
      args.attrs ?? {},
    ) as Record<string, () => tf.Tensor>;
    const out = outputs.map((o) => (grads[o] as () => tf.Tensor)());
    return out.length === 1 ? out[0] : out;
  }) as unknown as tf.KernelFunc;
}

export function registerCpuReferences(): void {
  const configs: [string, tf.KernelFunc][] = [
    [
      'FusedBatchNormGrad',
      stockGradient(tf.FusedBatchNorm, ['x', 'mean', 'variance', 'scale'], ['x', 'mean', 'variance', 'scale', 'offset']),
    ],
    ['ClipByValueGrad', stockGradient(tf.ClipByValue, ['x'], ['x'])],
    ['Relu6Grad', stockGradient(tf.Relu6, ['x'], ['x'])],
  ];
  for (const [kernelName, kernelFunc] of configs) {
    if (!tf.getKernel(kernelName, 'cpu')) tf.registerKernel({ kernelName, backendName: 'cpu', kernelFunc });
  }
}

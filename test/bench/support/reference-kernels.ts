/**
 * The cpu backend's side of the kernels benchmark's rows for libs/engine's fused gradient kernels
 * (FusedBatchNormGrad, ClipByValueGrad, Relu6Grad), which exist on wasm only: registered here for
 * the cpu backend under the same names, each runs tfjs's own gradient (the registered gradient
 * falls back to it on any backend but wasm), so a row times and checks the fused kernel against
 * what tfjs computes there. The training kernels get what tfjs runs in their place: AdamUpdate
 * tf.train.adam's ops (after the trainer's division and weight decay), BatchNormTraining
 * tf.moments and tf.batchNorm. Only the benchmark imports this.
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

/** tf.train.adam's update of one variable, op by op, after the trainer's division and weight decay. */
const stockAdam = ((args: Args) => {
  const [x, m, v, grad] = ['x', 'm', 'v', 'grad'].map((n) => tensor(args, n)) as tf.Tensor[] as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ];
  const a = args.attrs as Record<string, number>;
  const [lr, b1, b2, eps] = [a.learningRate, a.beta1, a.beta2, a.epsilon] as [number, number, number, number];
  const g = tf.add(tf.div(grad, a.gradDivisor as number), tf.mul(x, a.weightDecay as number));
  const m2 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
  const v2 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
  const mHat = tf.div(m2, tf.sub(1, a.accBeta1 as number));
  const vHat = tf.div(v2, tf.sub(1, a.accBeta2 as number));
  return [tf.add(tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), eps)), -lr), x), m2, v2];
}) as unknown as tf.KernelFunc;

/** What tfjs-layers' BatchNormalization computes in training mode: [y, mean, variance]. */
const stockTrainingBatchNorm = ((args: Args) => {
  const [x, scale, offset] = ['x', 'scale', 'offset'].map((n) => tensor(args, n)) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
  const { mean, variance } = tf.moments(x, [...Array(x.rank - 1).keys()]);
  return [tf.batchNorm(x, mean, variance, offset, scale, (args.attrs as { varianceEpsilon: number }).varianceEpsilon), mean, variance];
}) as unknown as tf.KernelFunc;

export function registerCpuReferences(): void {
  const configs: [string, tf.KernelFunc][] = [
    ['AdamUpdate', stockAdam],
    ['BatchNormTraining', stockTrainingBatchNorm],
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

/**
 * Benchmark: the conv gradient kernels libs/engine adds to the wasm backend (and those it
 * replaces there: Conv2DBackpropInput, Tile, Slice, Reverse; the fused gradients and training kernels;
 * the transposed matrix products on OpenBLAS where it is installed, ../../libs/engine/src/native-gemm.ts)
 * against the cpu backend's own kernels, side by side in one process on the same seeded data, on
 * the shapes of a MobileNetV2 at 96x96 with batch 32 (1x1 expansions late in the network, the
 * stride-2 stem, depthwise 3x3 layers at three resolutions) and of resnet-small's stride-2
 * stage at batch 64.
 *
 * Per kernel and backend: a warm-up call on the first sample of the batch, then up to --reps
 * timed calls at batch 32 (median reported; the inputs are on the backend already and reading
 * the output back is not timed). The cpu Conv2DBackpropFilter takes about half a
 * minute per call on these shapes, so repetitions stop once --budget-ms is spent (at least one
 * run). The outputs of the two backends are compared too.
 * Run: npx nx run bench:kernels -- [--reps 7] [--budget-ms 5000]
 */
import { loadavg } from 'node:os';
import { initEngine, useFusedWasmKernels } from '@permafrost/engine';
import * as tf from '@tensorflow/tfjs-core';
import { arg, machine, median, writeResults } from './support/bench-util';
import { registerCpuReferences } from './support/reference-kernels';

const REPS = Number(arg('reps', '7'));
const BUDGET_MS = Number(arg('budget-ms', '5000'));
const SEED = 42;

type Shape4 = [number, number, number, number];

interface Case {
  kernel:
    | 'Conv2DBackpropFilter'
    | 'Conv2DBackpropInput'
    | 'DepthwiseConv2dNativeBackpropFilter'
    | 'DepthwiseConv2dNativeBackpropInput'
    | 'Tile'
    | 'Slice'
    | 'Reverse'
    | 'FusedBatchNorm'
    | 'FusedBatchNormGrad'
    | 'ClipByValueGrad'
    | 'Relu6Grad'
    | 'Sum'
    | 'Mean'
    | 'AdamUpdate'
    | 'BatchNormTraining'
    | 'BatchMatMul';
  what: string;
  inputs: Record<string, { values: Float32Array; shape: number[] }>;
  attrs: Record<string, unknown>;
  /** runs on OpenBLAS where it is loaded: timed on XNNPACK too (the switch off) */
  product?: boolean;
}

interface Timing {
  medianMs: number;
  runsMs: number[];
}

interface Row {
  kernel: string;
  what: string;
  wasm: Timing;
  /** the same kernel with the OpenBLAS products switched off, for the rows that use them */
  xnnpack?: Timing;
  cpu: Timing;
  speedup: number;
  relativeError: number;
}

let state = SEED;
function values(shape: number[]): { values: Float32Array; shape: number[] } {
  const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    v[i] = state / 2 ** 32 - 0.5;
  }
  return { values: v, shape };
}

function convFilter(x: Shape4, k: number, out: number, stride: number): Case {
  const dy: Shape4 = [x[0], Math.ceil(x[1] / stride), Math.ceil(x[2] / stride), out];
  return {
    kernel: 'Conv2DBackpropFilter',
    what: `${k}x${k} conv, stride ${stride}: x [${x}] -> ${out}`,
    inputs: { x: values(x), dy: values(dy) },
    attrs: { strides: stride, pad: 'same', dataFormat: 'NHWC', filterShape: [k, k, x[3], out] },
    product: k === 1 && stride === 1,
  };
}

/** The input gradient, which replaces the wasm backend's own scalar-loop kernel. */
function convInput(x: Shape4, k: number, out: number, stride: number): Case {
  const dy: Shape4 = [x[0], Math.ceil(x[1] / stride), Math.ceil(x[2] / stride), out];
  return {
    kernel: 'Conv2DBackpropInput',
    what: `${k}x${k} conv, stride ${stride}: x [${x}] -> ${out}`,
    inputs: { dy: values(dy), filter: values([k, k, x[3], out]) },
    attrs: { strides: stride, pad: 'same', dataFormat: 'NHWC', inputShape: x },
    product: k === 1 && stride === 1,
  };
}

function depthwise(x: Shape4, stride: number): Case[] {
  const dy: Shape4 = [x[0], Math.ceil(x[1] / stride), Math.ceil(x[2] / stride), x[3]];
  const common = { strides: stride, pad: 'same', dilations: 1 };
  const what = `depthwise 3x3, stride ${stride}: x [${x}]`;
  return [
    {
      kernel: 'DepthwiseConv2dNativeBackpropFilter',
      what,
      inputs: { x: values(x), dy: values(dy) },
      attrs: { ...common, filterShape: [3, 3, x[3], 1] },
    },
    {
      kernel: 'DepthwiseConv2dNativeBackpropInput',
      what,
      inputs: { dy: values(dy), filter: values([3, 3, x[3], 1]) },
      attrs: { ...common, inputShape: x },
    },
  ];
}

/** Per-channel statistics for a BatchNormalization over x (variance kept positive). */
function statistics(c: number): Record<string, { values: Float32Array; shape: number[] }> {
  const variance = values([c]);
  variance.values = variance.values.map((v) => v + 1);
  return { mean: values([c]), variance, scale: values([c]), offset: values([c]) };
}

/** FusedBatchNorm (an XNNPACK depthwise 1x1 on wasm) and its fused gradient, at inference and training shapes. */
function batchNormRows(x: Shape4, where: string): Case[] {
  const { mean, variance, scale, offset } = statistics(x[3]);
  const attrs = { varianceEpsilon: 1e-3 };
  return [
    {
      kernel: 'FusedBatchNorm',
      what: `${where}: x [${x}], per-channel statistics`,
      inputs: { x: values(x), mean, variance, scale, offset } as Case['inputs'],
      attrs,
    },
    {
      kernel: 'FusedBatchNormGrad',
      what: `${where}: x [${x}] (cpu: tfjs's gradient ops; error on dx)`,
      inputs: { dy: values(x), x: values(x), mean, variance, scale } as Case['inputs'],
      attrs,
    },
  ];
}

/** BatchNormalization's per-channel Sum and Mean over every axis but the last. */
function reductionRows(x: Shape4): Case[] {
  return (['Sum', 'Mean'] as const).map((kernel) => ({
    kernel,
    what: `over N, H, W: x [${x}]`,
    inputs: { x: values(x) },
    attrs: { axis: [0, 1, 2], keepDims: false },
  }));
}

/** The clipByValue(0, 6) and relu6 gradients (cpu: tfjs's gradient ops). */
function activationRows(x: Shape4): Case[] {
  const scaled = () => {
    const v = values(x);
    v.values = v.values.map((a) => a * 16);
    return v;
  };
  return [
    {
      kernel: 'ClipByValueGrad',
      what: `relu6 layer (clipByValue 0..6): x [${x}]`,
      inputs: { dy: values(x), x: scaled() },
      attrs: { clipValueMin: 0, clipValueMax: 6 },
    },
    { kernel: 'Relu6Grad', what: `relu6: x [${x}]`, inputs: { dy: values(x), x: scaled() }, attrs: {} },
  ];
}

/** libs/engine's training kernels (cpu: the ops tfjs runs in their place). */
function trainingRows(weights: Shape4, x: Shape4): Case[] {
  const stats = statistics(x[3]);
  const moment = (v: { values: Float32Array; shape: number[] }) => ({ ...v, values: v.values.map((a) => a * a) });
  return [
    {
      kernel: 'AdamUpdate',
      what: `adam, one variable: [${weights}] (error on the new value)`,
      inputs: { x: values(weights), m: values(weights), v: moment(values(weights)), grad: values(weights) },
      attrs: {
        learningRate: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
        accBeta1: 0.9 ** 5,
        accBeta2: 0.999 ** 5,
        gradDivisor: 32,
        weightDecay: 0,
      },
    },
    {
      kernel: 'BatchNormTraining',
      what: `BatchNormalization, training mode: x [${x}] (error on y)`,
      inputs: { x: values(x), scale: stats.scale, offset: stats.offset } as Case['inputs'],
      attrs: { varianceEpsilon: 1e-3 },
    },
  ];
}

/** The same case cut to its first sample: a cheap warm-up (the cpu kernels take seconds per sample). */
function firstSample(c: Case): Case {
  const inputs = Object.fromEntries(
    Object.entries(c.inputs).map(([k, v]) => {
      if (k === 'filter' || c.kernel === 'Tile' || v.shape.length === 1) return [k, v];
      const shape = [1, ...v.shape.slice(1)];
      return [k, { values: v.values.subarray(0, v.values.length / (v.shape[0] as number)), shape }];
    }),
  );
  const inputShape = c.attrs.inputShape as Shape4 | undefined;
  if (inputShape) return { ...c, inputs, attrs: { ...c.attrs, inputShape: [1, ...inputShape.slice(1)] } };
  const size = c.kernel === 'Slice' ? (c.attrs.size as number[]) : undefined;
  return { ...c, inputs, attrs: size ? { ...c.attrs, size: [1, ...size.slice(1)] } : c.attrs };
}

async function run(c: Case): Promise<{ ms: number; out: Float32Array }> {
  const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape, 'float32')]));
  const t0 = performance.now();
  // Both backends compute inside runKernel, synchronously; reading the output back is left out.
  const result = tf.engine().runKernel(c.kernel, inputs, c.attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
  const ms = performance.now() - t0;
  // a kernel with several outputs (FusedBatchNormGrad) is compared on its first, dx
  const y = Array.isArray(result) ? (result[0] as tf.Tensor) : result;
  const out = (await y.data()) as Float32Array;
  tf.dispose([...(Array.isArray(result) ? result : [result]), ...Object.values(inputs)]);
  return { ms, out };
}

/** Times one kernel on the current backend: a warm-up on one sample, then the repetitions. */
async function time(c: Case): Promise<{ timing: Timing; out: Float32Array }> {
  await run(firstSample(c));
  const runsMs: number[] = [];
  let out: Float32Array = new Float32Array(0);
  const start = performance.now();
  while (runsMs.length < REPS && (runsMs.length === 0 || performance.now() - start < BUDGET_MS)) {
    const r = await run(c);
    runsMs.push(r.ms);
    out = r.out;
  }
  return { timing: { medianMs: median(runsMs), runsMs }, out };
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i] as number));
    worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
  }
  return worst / Math.max(scale, 1e-30);
}

async function main(): Promise<void> {
  const cases: Case[] = [
    convFilter([32, 3, 3, 160], 1, 960, 1),
    convFilter([32, 6, 6, 96], 1, 576, 1),
    convFilter([32, 96, 96, 3], 3, 32, 2),
    ...depthwise([32, 3, 3, 960], 1),
    ...depthwise([32, 12, 12, 192], 2),
    ...depthwise([32, 48, 48, 96], 2),
    convInput([32, 3, 3, 960], 1, 320, 1),
    convInput([32, 3, 3, 320], 1, 1280, 1),
    convInput([32, 12, 12, 64], 3, 64, 2),
    {
      kernel: 'Tile',
      what: 'BatchNormalization gradient: [1,1,1,960] to [32,3,3,960]',
      inputs: { x: values([1, 1, 1, 960]) },
      attrs: { reps: [32, 3, 3, 1] },
    },
    {
      kernel: 'Slice',
      what: 'stride-2 conv gradient crop: [64,28,28,16] to [64,27,27,16]',
      inputs: { x: values([64, 28, 28, 16]) },
      attrs: { begin: [0, 0, 0, 0], size: [64, 27, 27, 16] },
    },
    convInput([64, 28, 28, 16], 3, 32, 2),
    {
      kernel: 'Reverse',
      what: 'depthwise gradient filter flip: [3,3,960,1] along [0,1]',
      inputs: { x: values([3, 3, 960, 1]) },
      attrs: { dims: [0, 1] },
    },
    ...batchNormRows([32, 3, 3, 960], 'block_14 expansion'),
    ...batchNormRows([32, 48, 48, 96], 'block_1 expansion'),
    ...reductionRows([32, 3, 3, 960]),
    ...activationRows([32, 3, 3, 960]),
    ...trainingRows([1, 1, 960, 320], [32, 3, 3, 960]),
    {
      kernel: 'BatchMatMul',
      what: 'a 1x1 conv filter gradient as x^T dy: [288,960]^T [288,320]',
      inputs: { a: values([288, 960]), b: values([288, 320]) },
      attrs: { transposeA: true, transposeB: false },
      product: true,
    },
  ];
  registerCpuReferences();
  const rows: Row[] = [];
  // The machine may be shared: both backends suffer the same contention, but say how much there was.
  const loadBefore = loadavg()[0] ?? Number.NaN;
  let gemm = 'XNNPACK';
  for (const c of cases) {
    process.stderr.write(`${c.kernel}, ${c.what}...\n`);
    const engine = await initEngine('wasm');
    const wasm = await time(c);
    gemm = engine.gemmLibrary ?? 'XNNPACK';
    let xnnpack: Timing | undefined;
    if (c.product && engine.gemmLibrary) {
      useFusedWasmKernels(false);
      xnnpack = (await time(c)).timing;
      useFusedWasmKernels(true);
    }
    await initEngine('cpu');
    const cpu = await time(c);
    rows.push({
      kernel: c.kernel,
      what: c.what,
      wasm: wasm.timing,
      xnnpack,
      cpu: cpu.timing,
      speedup: cpu.timing.medianMs / wasm.timing.medianMs,
      relativeError: relativeError(wasm.out, cpu.out),
    });
  }
  const loadAfter = loadavg()[0] ?? Number.NaN;
  const m = machine();
  writeResults('kernels', {
    date: new Date().toISOString(),
    machine: m,
    loadAverage: [loadBefore, loadAfter],
    reps: REPS,
    budgetMs: BUDGET_MS,
    gemm,
    rows,
  });
}

await main();

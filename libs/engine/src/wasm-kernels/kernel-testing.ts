/**
 * Helpers for the wasm gradient kernels' specs: seeded random data, running one kernel on a
 * named backend, an error measure, and the dilated-filter identity the dilation cases need.
 *
 * The cpu backend is the reference, with one exception: its depthwise gradient kernels ignore
 * `dilations` (tfjs's gradients never pass one above 1) and its Conv2DBackpropFilter takes none.
 * A convolution with dilation d equals one with dilation 1 and the filter spread out by d (d-1
 * zeros between taps), and the padding rules see the same effective size, so the reference for
 * a dilated case runs the cpu kernel on the spread filter: its filter gradient sampled every
 * d-th tap, its input gradient as is.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../backend';

export type Shape4 = [number, number, number, number];

/** A deterministic generator of values in [-1, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  };
}

export function randomInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(((rand() + 1) / 2) * (hi - lo + 1));
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function randomValues(rand: () => number, shape: readonly number[]): Float32Array {
  return Float32Array.from({ length: sizeOf(shape) }, rand);
}

export interface Data {
  values: Float32Array;
  shape: number[];
}

/** Runs a kernel by name on `backend` with the given inputs; returns the output's values. */
export async function runKernelOn(
  backend: 'wasm' | 'cpu',
  kernel: string,
  inputs: Record<string, Data>,
  attrs: Record<string, unknown>,
): Promise<Data> {
  await initEngine(backend);
  const tensors = Object.fromEntries(Object.entries(inputs).map(([k, d]) => [k, tf.tensor(d.values, d.shape, 'float32')]));
  const y = tf.engine().runKernel(kernel, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
  const out = { values: (await y.data()) as Float32Array, shape: y.shape };
  tf.dispose([y, ...Object.values(tensors)]);
  return out;
}

/** max |actual - expected| over max |expected|: an error relative to the result's scale. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length, 'sizes differ');
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i] as number));
    worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
  }
  return worst / Math.max(scale, 1e-30);
}

export function assertClose(actual: Data, expected: Data, tolerance: number, label: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${label}: shape`);
  const err = relativeError(actual.values, expected.values);
  assert.ok(err <= tolerance, `${label}: relative error ${err.toExponential(2)} > ${tolerance}`);
}

/** [kh,kw,a,b] spread to [(kh-1)d+1, (kw-1)d+1, a, b] with zeros between the taps. */
export function spreadFilter(filter: Data, dilation: number): Data {
  const [kh, kw, a, b] = filter.shape as Shape4;
  const sh = (kh - 1) * dilation + 1;
  const sw = (kw - 1) * dilation + 1;
  const inner = a * b;
  const values = new Float32Array(sh * sw * inner);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const from = (i * kw + j) * inner;
      values.set(filter.values.subarray(from, from + inner), (i * dilation * sw + j * dilation) * inner);
    }
  }
  return { values, shape: [sh, sw, a, b] };
}

/** The taps of a spread filter [(kh-1)d+1, (kw-1)d+1, a, b] that the [kh,kw,a,b] filter has. */
export function sampleFilter(spread: Data, dilation: number, kh: number, kw: number): Data {
  const [, sw, a, b] = spread.shape as Shape4;
  const inner = a * b;
  const values = new Float32Array(kh * kw * inner);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const from = (i * dilation * sw + j * dilation) * inner;
      values.set(spread.values.subarray(from, from + inner), (i * kw + j) * inner);
    }
  }
  return { values, shape: [kh, kw, a, b] };
}

/** The output shape of the forward convolution, [N,Ho,Wo,channels out]. */
export function forwardShape(
  xShape: Shape4,
  filterShape: Shape4,
  strides: number,
  dilations: number,
  pad: 'same' | 'valid' | number | number[][],
  depthwise: boolean,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): Shape4 {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    strides,
    dilations,
    pad as 'same',
    dimRoundingMode,
    depthwise,
    'channelsLast',
  );
  return info.outShape as Shape4;
}

export type PadSpec = 'same' | 'valid' | number | number[][];

export interface ConvCase {
  label: string;
  xShape: Shape4;
  /** [kh,kw,Cin,Cout], or [kh,kw,C,multiplier] for a depthwise case */
  filterShape: Shape4;
  strides: number;
  dilations: number;
  pad: PadSpec;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Small seeded-random shapes (non-square inputs) covering kernel sizes 1 and 3, strides 1 and 2,
 * 'same' and 'valid', dilation 2, channel multipliers 1 and 2 (depthwise) or 1-5 output channels,
 * a rectangular kernel, a numeric padding with dimRoundingMode, explicit per-side padding, and an
 * input smaller than the kernel.
 */
export function convCases(seed: number, depthwise: boolean): ConvCase[] {
  const rand = seeded(seed);
  const cases: ConvCase[] = [];
  const make = (
    kh: number,
    kw: number,
    strides: number,
    dilations: number,
    pad: PadSpec,
    multiplier: number,
    extra: { hw?: [number, number]; dimRoundingMode?: 'floor' | 'round' | 'ceil' } = {},
  ) => {
    const low = Math.max((Math.max(kh, kw) - 1) * dilations + 1, 2);
    let [h, w] = extra.hw ?? [randomInt(rand, low, 9), randomInt(rand, low, 9)];
    if (w === h) w = h + 1;
    const c = randomInt(rand, 1, 4);
    const out = depthwise ? multiplier : randomInt(rand, 1, 5);
    const xShape: Shape4 = [randomInt(rand, 1, 2), h, w, c];
    const filterShape: Shape4 = [kh, kw, c, out];
    const padText = typeof pad === 'string' || typeof pad === 'number' ? String(pad) : JSON.stringify(pad);
    const label = `x [${xShape}] filter [${filterShape}] stride ${strides} dilation ${dilations} pad ${padText}${extra.dimRoundingMode ? ` ${extra.dimRoundingMode}` : ''}`;
    cases.push({ label, xShape, filterShape, strides, dilations, pad, dimRoundingMode: extra.dimRoundingMode });
  };
  const multipliers = depthwise ? [1, 2] : [1];
  for (const m of multipliers) {
    for (const k of [1, 3]) for (const s of [1, 2]) for (const pad of ['same', 'valid'] as const) make(k, k, s, 1, pad, m);
    for (const pad of ['same', 'valid'] as const) make(3, 3, 1, 2, pad, m);
  }
  make(3, 1, 2, 1, 1, 2, { dimRoundingMode: 'round' });
  make(
    1,
    3,
    1,
    1,
    [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
    1,
  );
  make(3, 3, 2, 1, 'same', 2, { hw: [1, 2] });
  return cases;
}

/** The gradients of `loss` with respect to each input, computed on `backend`. */
export async function gradsOn(backend: 'wasm' | 'cpu', loss: (...xs: tf.Tensor[]) => tf.Tensor, inputs: Data[]): Promise<Data[]> {
  await initEngine(backend);
  const tensors = inputs.map((d) => tf.tensor(d.values, d.shape, 'float32'));
  const grads = tf.grads((...xs: tf.Tensor[]) => loss(...xs) as tf.Scalar)(tensors);
  const out = await Promise.all(grads.map(async (g) => ({ values: (await g.data()) as Float32Array, shape: g.shape })));
  tf.dispose([...grads, ...tensors]);
  return out;
}

/**
 * One training step on the trainable suffix.
 *
 * The input is the frozen prefix's output for the batch (computed without a tape, or read from
 * the cache). The suffix runs forward in training mode under a gradient tape that watches only
 * the suffix's trainable variables, in one fixed order, and the gradient is taken of the batch's
 * summed cross-entropy. Distributed, the flat buffer [gradient sums..., loss sum, count] is summed
 * across ranks (a (sum, count) reduction, docs/architecture.md#one-step), so dividing by the global count gives
 * exactly the single-process full-batch mean gradient, whatever each rank's share was; a rank with
 * an empty share contributes zeros. Weight decay is added to each gradient, then the optimizer
 * applies the update: identical inputs on every rank keep replicas bit-identical.
 */
import { createHash } from 'node:crypto';
import { readInto } from '@permafrost/engine';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { BlockOptimizers } from './block-optimizers';
import { crossEntropySum } from './loss';
import type { OptimizerSpec } from './optimizer';
import type { GradientReducer } from './reducer';

export interface StepResult {
  /** summed loss over this rank's samples */
  lossSum: number;
  count: number;
}

export interface StepOptions {
  /** sums the gradient across ranks; none, or one of world size 1, divides the local sums */
  reducer?: GradientReducer;
  /** samples in the global batch (default: this rank's count) */
  globalCount?: number;
  /**
   * Called once the local gradient has gone out to the reducer (it has sent what it can), before
   * the step waits for the sums: work started here (the next batch's cache reads) fills the wait
   * for the other ranks instead of following it. Called without a reducer too, with this rank's
   * own sums (a rank of a fleet records them: its share of a step whose reduction fails may
   * still have reached the other ranks).
   */
  whileReducing?: (local: StepResult) => void;
}

/** Which optimizer group a layer's variables belong to (its block; default: one group). */
export type GroupOf = (layerName: string) => string;

export class SuffixTrainer {
  readonly optimizers: BlockOptimizers;
  /** trainable variables in the suffix's weight order, the same on every rank */
  variables: tf.Variable[] = [];
  /**
   * The tensor set, hashed (kind and shape of each variable, in order): ranks must reduce the
   * same one. Layer names are left out because tfjs numbers unnamed layers per process.
   */
  signature = '';
  private order: { variable: tf.Variable; group: string }[] = [];
  private sizes: number[] = [];
  private flat: Float32Array | undefined;

  constructor(
    private suffix: tfl.LayersModel,
    spec: OptimizerSpec,
    private readonly groupOf: GroupOf = () => 'all',
  ) {
    this.optimizers = new BlockOptimizers(spec);
    this.setSuffix(suffix);
  }

  /**
   * Trains a new suffix from now on: after a boundary advance the frozen blocks' variables leave
   * the tape, the reduction and the optimizers (their groups' state is dropped).
   */
  setSuffix(suffix: tfl.LayersModel): void {
    this.suffix = suffix;
    this.order = suffix.layers.flatMap((layer) =>
      layer.trainableWeights.map((w) => ({ variable: w.read() as tf.Variable, group: this.groupOf(layer.name) })),
    );
    this.variables = this.order.map((o) => o.variable);
    this.sizes = this.variables.map((v) => v.size);
    this.signature = createHash('sha256')
      .update(JSON.stringify(suffix.layers.flatMap((l) => l.trainableWeights.map((w) => [w.originalName.split('/').pop(), w.shape]))))
      .digest('hex');
  }

  /** Gives every training group its optimizer slots (see BlockOptimizers.ensureSlots). */
  ensureSlots(): Promise<void> {
    return this.optimizers.ensureSlots(this.order);
  }

  /** The optimizer groups that currently train. */
  get groups(): Set<string> {
    return new Set(this.order.map((o) => o.group));
  }

  async step(activations: tf.Tensor | undefined, labels: Int32Array, opts: StepOptions = {}): Promise<StepResult> {
    const count = labels.length;
    let grads: tf.NamedTensorMap;
    let lossSum = 0;
    if (activations && count > 0) {
      const y = tf.tensor1d(labels, 'int32');
      const r = tf.variableGrads(() => crossEntropySum(this.suffix.apply(activations, { training: true }) as tf.Tensor, y), this.variables);
      grads = r.grads;
      lossSum = (await r.value.data())[0] ?? Number.NaN;
      tf.dispose([r.value, y]);
    } else {
      grads = Object.fromEntries(this.variables.map((v) => [v.name, tf.zerosLike(v)]));
    }
    let divisor = opts.globalCount ?? count;
    if (opts.reducer && opts.reducer.worldSize > 1) {
      const flat = this.flatten(grads, [lossSum, count]);
      // the local gradient is in `flat` now; its tensors would otherwise outlive the step
      tf.dispose(Object.values(grads));
      const reduced = opts.reducer.allreduce(flat, this.signature);
      opts.whileReducing?.({ lossSum, count });
      await reduced;
      grads = this.unflatten(flat);
      divisor = opts.globalCount ?? (flat[flat.length - 1] as number);
    } else opts.whileReducing?.({ lossSum, count });
    this.optimizers.apply(grads, this.order, Math.max(divisor, 1));
    return { lossSum, count };
  }

  /**
   * The gradient, loss sum and count in one flat buffer, the trainer's own and reused every step
   * (nothing keeps it past the step: the reduction works in place, and the tensors unflatten
   * makes of it, which the cpu backend backs with the buffer itself, are disposed before step()
   * returns), so a step allocates no gradient-sized arrays (see readInto).
   */
  private flatten(grads: tf.NamedTensorMap, extra: number[]): Float32Array {
    const total = this.sizes.reduce((a, b) => a + b, 0) + extra.length;
    if (this.flat?.length !== total) this.flat = new Float32Array(total);
    const flat = this.flat;
    let at = 0;
    for (const v of this.variables) {
      readInto(grads[v.name] as tf.Tensor, flat, at);
      at += v.size;
    }
    flat.set(extra, at);
    return flat;
  }

  private unflatten(flat: Float32Array): tf.NamedTensorMap {
    const out: tf.NamedTensorMap = {};
    let at = 0;
    for (const v of this.variables) {
      out[v.name] = tf.tensor(flat.subarray(at, at + v.size), v.shape, 'float32');
      at += v.size;
    }
    return out;
  }

  dispose(): void {
    this.optimizers.dispose();
  }
}

/** SHA-256 of a model's trainable weights (values and shapes): equal on replicas that agree. */
export function weightsHash(model: tfl.LayersModel): string {
  const h = createHash('sha256');
  for (const w of model.trainableWeights) {
    const data = w.read().dataSync();
    h.update(w.shape.join('x'));
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex');
}

/**
 * One training step on the trainable suffix.
 *
 * The input is the frozen prefix's output for the batch (computed without a tape, or later read
 * from the cache). The suffix runs forward in training mode under a gradient tape that watches
 * only the suffix's trainable variables, in one fixed order; the loss is the batch's summed
 * cross-entropy divided by the number of samples reduced over, so that a distributed reducer can
 * later sum per-rank (gradient sum, count) pairs and get the full-batch gradient. Weight decay is
 * added to each gradient, then the optimizer applies the update.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { crossEntropySum } from './loss';
import { addWeightDecay, createOptimizer, type OptimizerSpec } from './optimizer';

export interface StepResult {
  /** summed loss over the batch's samples */
  lossSum: number;
  count: number;
}

export class SuffixTrainer {
  readonly optimizer: tf.Optimizer;
  /** trainable variables in the suffix's weight order, the same on every rank */
  readonly variables: tf.Variable[];
  private readonly byName: Map<string, tf.Variable>;

  constructor(
    private readonly suffix: tfl.LayersModel,
    private readonly spec: OptimizerSpec,
  ) {
    this.optimizer = createOptimizer(spec);
    this.variables = suffix.trainableWeights.map((w) => w.read() as tf.Variable);
    this.byName = new Map(this.variables.map((v) => [v.name, v]));
  }

  async step(activations: tf.Tensor, labels: Int32Array): Promise<StepResult> {
    const count = labels.length;
    const y = tf.tensor1d(labels, 'int32');
    const { value, grads } = tf.variableGrads(() => {
      const probs = this.suffix.apply(activations, { training: true }) as tf.Tensor;
      return tf.div(crossEntropySum(probs, y), count) as tf.Scalar;
    }, this.variables);
    const decayed = addWeightDecay(grads, this.byName, this.spec.weightDecay);
    this.optimizer.applyGradients(decayed);
    const lossMean = (await value.data())[0] ?? Number.NaN;
    tf.dispose([value, y, ...Object.values(decayed)]);
    return { lossSum: lossMean * count, count };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

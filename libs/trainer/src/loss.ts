/**
 * Sparse categorical cross-entropy on class probabilities (models end in softmax, as Keras
 * classifiers do), clipped so log(0) never appears, and accuracy for evaluation.
 */
import * as tf from '@tensorflow/tfjs-core';

const EPS = 1e-7;

/** Sum over the batch of -log p[label]; callers divide by the sample count they reduce over. */
export function crossEntropySum(probs: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = probs.shape[probs.shape.length - 1] ?? 1;
    const oneHot = tf.oneHot(labels, numClasses);
    const logp = tf.log(tf.clipByValue(probs, EPS, 1 - EPS));
    return tf.neg(tf.sum(tf.mul(oneHot, logp))) as tf.Scalar;
  });
}

export function correctCount(probs: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), labels), 'int32')));
}

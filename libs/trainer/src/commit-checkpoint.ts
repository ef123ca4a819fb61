/**
 * A checkpoint of a rank's newest in-memory commit (docs/distributed.md#below-minworkers): what a
 * fleet leaves when it fails below `cluster.minWorkers`, so that `coordinator start --resume`
 * continues from the last step every survivor agreed on instead of the last epoch's end.
 *
 * Same format and pointer as an epoch checkpoint (checkpoint.ts), named `step-NNNNNNNN`, with
 * meta.json's `epoch` the epochs whose end (validation, checkpoint) is done and `step` the
 * global steps. The weights come from the commit (the live variables take them: after a failed collective they hold them
 * already), the optimizer state from the commit's slots, named as BlockOptimizers names them, so
 * a rank whose boundary moved before the failed step still writes the state of the committed
 * step; meta.json's boundary is the one that step's predecessor trained with, as an epoch
 * checkpoint's is (resuming moves it to the plan's boundary at the step).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type CheckpointMeta, type OptimizerState, writeCheckpointOf } from './checkpoint';
import { stepCheckpointName } from './checkpoint-pointer';
import type { Commit } from './step-commit';
import { unpackWeights } from './training-state';

/** BlockOptimizers' separator of group and slot names (block-optimizers.ts). */
const SEP = '|';

/** The optimizer state a commit holds, as BlockOptimizers.getWeights names it. */
export function commitOptimizerState(commit: Commit, className: string): OptimizerState {
  const weights: OptimizerState['weights'] = [];
  let at = 0;
  for (const g of commit.layout.groups) {
    for (const t of g.tensors) {
      const size = t.shape.reduce((a, b) => a * b, 1);
      weights.push({ name: `${g.name}${SEP}${t.name}`, tensor: tf.tensor(commit.slots.subarray(at, at + size), t.shape, 'float32') });
      at += size;
    }
  }
  return { className, weights };
}

export interface CommitCheckpoint {
  root: string;
  commit: Commit;
  /** the variables the commit copied (StepCommits.vars), part of `model` */
  vars: readonly tf.Variable[];
  model: tfl.LayersModel;
  optimizerClass: string;
  meta: CheckpointMeta;
}

/** Writes the checkpoint of `c.commit` under `c.root` and points the root's pointer at it; returns its directory. */
export async function writeCommitCheckpoint(c: CommitCheckpoint): Promise<string> {
  unpackWeights(c.vars, c.commit.weights);
  const optimizer = commitOptimizerState(c.commit, c.optimizerClass);
  try {
    return await writeCheckpointOf(c.root, stepCheckpointName(c.commit.step), c.model, optimizer, c.meta);
  } finally {
    tf.dispose(optimizer.weights.map((w) => w.tensor));
  }
}

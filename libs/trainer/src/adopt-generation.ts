/**
 * A rank enters a new generation of an elastic fleet (docs/distributed.md#a-new-generation): every
 * member, survivor or newcomer, ends with the state of the generation's state rank at the resume
 * step, bit for bit, copied over the data plane by two allreduces to which only the state rank
 * contributes (training-state.ts):
 *
 *   1. the weights training changes, from the state rank's commit of the resume step;
 *   2. the boundary moves to where the plan has it at the resume step (catchUp): after the
 *      weights, since a newly frozen block's cache fingerprint hashes them;
 *   3. every optimizer group gets its slots (a newcomer's have never been made), then the state
 *      rank's slots replace them. Every rank replaces its slots the same way, so derived optimizer
 *      state (Adam's beta powers) is computed identically on all of them. A state rank whose
 *      commit precedes the first update (a generation formed at step 0) sends zeros: the fresh
 *      state, iteration count 0 included.
 */
import { PermafrostError } from '@permafrost/telemetry';
import type { FreezeController } from './freeze-controller';
import type { GradientReducer } from './reducer';
import type { StepCommits } from './step-commit';
import { packSlots, type SlotLayout, unpackSlots, unpackWeights, weightsSignature } from './training-state';

export interface Generation {
  reducer: GradientReducer;
  shards: readonly number[];
  shardCount: number;
  /** the global step training continues at */
  resumeStep: number;
  /** this rank's commit of resumeStep is the state every member takes */
  stateSource: boolean;
}

export async function adoptGeneration(ctl: FreezeController, commits: StepCommits, g: Generation): Promise<void> {
  const source = g.stateSource ? commits.at(g.resumeStep) : undefined;
  if (g.stateSource && !source) {
    throw new PermafrostError('failed-precondition', `this rank was named the state rank but holds no commit of step ${g.resumeStep}`);
  }
  const vars = commits.vars;
  const size = vars.reduce((a, v) => a + v.size, 0);
  const weights = source ? Float32Array.from(source.weights) : new Float32Array(size);
  await g.reducer.allreduce(weights, `state-weights/${weightsSignature(vars)}`);
  unpackWeights(vars, weights);
  ctl.catchUp(g.resumeStep);
  await ctl.trainer.ensureSlots();
  const own = await packSlots(ctl.trainer.optimizers);
  // a commit made before the first update holds no optimizer state, and ensureSlots' zero update
  // counted an iteration: zeros (iteration 0, zero moments) are exactly a fresh optimizer's state
  const slots = g.stateSource && source && holdsSlots(source.layout) ? own.data : new Float32Array(own.layout.size);
  await g.reducer.allreduce(slots, `state-slots/${own.layout.signature}`);
  await unpackSlots(ctl.trainer.optimizers, own.layout, slots);
}

/** Whether a commit's optimizer state has slots beyond the iteration counts (an update made them). */
function holdsSlots(layout: SlotLayout): boolean {
  return layout.groups.some((g) => g.tensors.length > 1);
}

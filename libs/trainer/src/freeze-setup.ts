/**
 * From a job's freeze section to the run's freeze plan: the policy, the trainable blocks after the
 * initial boundary (the model's layout), and the total number of optimizer steps, which every rank
 * computes the same way: epochs * ceil(train samples / global batch).
 */

import { initEngine } from '@permafrost/engine';
import { FreezePlan, type FreezePolicy, previewSchedule, type SchedulePreview } from '@permafrost/freeze';
import type { JobSpec } from '@permafrost/job';
import { type Assembled, assemble, flopsThrough } from '@permafrost/model';
import { UserError } from '@permafrost/telemetry';

export function freezePolicy(freeze: JobSpec['freeze']): FreezePolicy {
  if (freeze.policy === 'freezeout') return { policy: 'freezeout', schedule: freeze.schedule, t0: freeze.t0, scaleLr: freeze.scaleLr };
  return { policy: freeze.policy };
}

export function stepsPerEpoch(trainSamples: number, batchSize: number): number {
  return Math.max(1, Math.ceil(trainSamples / batchSize));
}

export function freezePlanFor(model: Assembled, policy: FreezePolicy, totalSteps: number): FreezePlan {
  if (policy.policy === 'freezeout' && model.trainableBlocks.length === 0) {
    throw new UserError(
      `freezeout has no block to freeze: every layer after the boundary '${model.boundary}' is the head; set freeze.k (blocks of ${model.full.name}: ${model.layout.blocks.length}) or an earlier freeze.boundary`,
      'freeze.k',
    );
  }
  return new FreezePlan(
    policy,
    model.trainableBlocks.map((b) => ({ name: b.name, last: b.last, flops: b.flops })),
    model.boundary,
    totalSteps,
  );
}

export function previewFor(model: Assembled, plan: FreezePlan, perEpoch: number): SchedulePreview {
  return previewSchedule(plan, {
    stepsPerEpoch: perEpoch,
    prefixFlops: flopsThrough(model.full, model.boundary),
    headFlops: model.layout.headFlops,
  });
}

export interface JobFreezePlan {
  plan: FreezePlan;
  preview: SchedulePreview;
  stepsPerEpoch: number;
}

/**
 * The plan a coordinator announces: built from the job alone (the model is assembled for its
 * layout and then dropped), exactly as every worker builds it.
 */
export async function planJob(job: JobSpec, trainSamples: number, numClasses: number): Promise<JobFreezePlan> {
  await initEngine(job.train.backend);
  const model = await assemble(job.model, job.freeze, numClasses, job.train.seed);
  try {
    const perEpoch = stepsPerEpoch(trainSamples, job.train.batchSize);
    const plan = freezePlanFor(model, freezePolicy(job.freeze), perEpoch * job.train.epochs);
    return { plan, preview: previewFor(model, plan, perEpoch), stepsPerEpoch: perEpoch };
  } finally {
    model.full.dispose();
  }
}

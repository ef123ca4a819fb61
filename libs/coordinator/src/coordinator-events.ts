/**
 * The coordinator's events: the seam its observers (the HTTP port's FleetView, libs/observe)
 * listen on. `membership` fires when a membership forms (generation 1, then one per elastic change,
 * with its reason and who left and why), `progress` for each
 * worker's step report, `epoch` for each epoch's record, `state` when the job's state changes
 * (failed: with the reason).
 */
import { EventEmitter } from 'node:events';
import type { StepProgress } from '@permafrost/proto';
import type { EpochRecord } from '@permafrost/trainer';

export type JobState = 'joining' | 'running' | 'reforming' | 'finished' | 'failed';

export interface MembershipChange {
  generation: bigint;
  members: readonly { workerId: string; rank: number }[];
  /** why this generation began: 'formed' for the first */
  reason: string;
  /** the workers the change lost, each with why */
  left?: readonly { workerId: string; reason: string }[];
}

export interface CoordinatorEventMap {
  membership: [MembershipChange];
  progress: [workerId: string, progress: StepProgress];
  epoch: [EpochRecord];
  state: [state: JobState, reason: string | undefined];
}

export class CoordinatorEvents extends EventEmitter<CoordinatorEventMap> {}

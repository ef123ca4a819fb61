/**
 * The status view: what `/api/status` answers, what the dashboard draws and `permafrost status`
 * prints. A live coordinator builds it (fleet-view.ts); `report show` builds the same shape from a
 * finished run's report (report-view.ts), without the live-only parts (per-step points, workers'
 * step-time split).
 */

export interface StatusView {
  /** live: from a running coordinator; report: from a finished run's JSON report */
  source: 'live' | 'report';
  jobId: string;
  state: string;
  /** why the job failed, when it did */
  reason?: string;
  startedAt: string;
  updatedAt: string;
  generation: number;
  epoch: number;
  epochs: number;
  /** steps done in the current epoch (the slowest worker's) */
  step: number;
  stepsPerEpoch: number;
  /** steps done since this coordinator started, and all it will run */
  globalStep: number;
  totalSteps: number;
  samplesPerSec: number;
  /** training lookups of the current epoch that hit the cache, 0 to 1; null: none yet */
  cacheHitRate: number | null;
  etaSeconds: number | null;
  workers: WorkerView[];
  membership: MembershipEvent[];
  failures: { at: string; reason: string }[];
  epochPoints: EpochPoint[];
  /** fleet-wide points, at most one per progress report (about one a second), bounded in count */
  stepPoints: StepPoint[];
  freeze: FreezeView | null;
}

export interface WorkerView {
  workerId: string;
  rank: number;
  epoch: number;
  step: number;
  samples: number;
  samplesPerSec: number;
  /** this epoch's step time by phase, seconds */
  readSeconds: number;
  computeSeconds: number;
  allreduceSeconds: number;
  cacheHitRate: number | null;
  /** [seconds since the job started, samples/s] */
  rates: [number, number][];
}

export interface MembershipEvent {
  generation: number;
  /** when it formed; empty when unknown (a report's membership changes carry no time) */
  at: string;
  workers: string[];
  /** who the generation before had and this one lacks (and why, when known), and who is new; both empty for the first */
  left: { workerId: string; reason: string }[];
  joined: string[];
  reason: string;
}

export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
  seconds: number;
  samplesPerSec: number;
  cacheHitRate: number | null;
  boundary: string;
  trainableLayers: number;
}

export interface StepPoint {
  globalStep: number;
  epoch: number;
  /** seconds since the job started */
  t: number;
  loss: number | null;
  samplesPerSec: number;
  cacheHitRate: number | null;
}

export interface FreezeBlock {
  block: string;
  /** first global step trained with the block frozen; null: trains to the end */
  freezeStep: number | null;
  freezeEpoch: number | null;
  frozen: boolean;
}

export interface FreezeView {
  policy: string;
  blocks: FreezeBlock[];
  /** boundary advances: the global step and the new boundary */
  events: { step: number; boundary: string }[];
  paperSpeedup: number;
  cachedSpeedup: number;
  /** the first epoch's training time times the epochs done, over their summed time; null before epoch 2 */
  measuredSpeedup: number | null;
}

/** The speedup the epochs so far show: epoch 1 costs what training without freezing costs. */
export function measuredSpeedup(epochSeconds: readonly number[]): number | null {
  const first = epochSeconds[0];
  if (epochSeconds.length < 2 || !first) return null;
  return (first * epochSeconds.length) / epochSeconds.reduce((a, b) => a + b, 0);
}

/** The coordinator's options and result, and the peer entry every membership message carries. */
import { create } from '@bufbuild/protobuf';
import { PeerInfoSchema, type StepProgress } from '@permafrost/proto';
import type { EpochRecord } from '@permafrost/trainer';
import type { MembershipChange } from './generations';
import type { Formed, Member } from './membership';

const entry = (m: Member, identity: string) =>
  create(PeerInfoSchema, { rank: m.rank, workerId: m.workerId, address: m.peerAddress, dataAddress: m.dataAddress ?? '', identity });

/** a member as its ring peers learn it: addresses and the certificate name their data servers expect of it */
export const peerInfo = (m: Member) => entry(m, m.identity ?? '');

/** a member as Status lists it: without the certificate name, which only its ring peers need */
export const statusEntry = (m: Member) => entry(m, '');

export interface CoordinatorOptions {
  /** this job's id: every message must carry it */
  jobId: string;
  jobJson: string;
  epochs: number;
  globalBatch: number;
  stepsPerEpoch: number;
  expectedWorkers: number;
  minWorkers: number;
  /** the most members a generation may have */
  maxWorkers: number;
  /** below minWorkers, how long to wait for workers before failing */
  rejoinTimeoutMs: number;
  /** membership changes the job survives */
  maxRestarts: number;
  /** losses of one worker id the job survives; one more excludes that worker (default 3) */
  maxWorkerFailures?: number;
  /** the job's seed (the epoch orders, for exactly-once accounting across changes) */
  seed: number;
  joinTimeoutMs: number;
  /** the workers' heartbeat period, sent to them in the Join answer */
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  shardCount: number;
  /** the training sample ids, for exactly-once accounting */
  trainIds: readonly number[];
  /** a restarted coordinator (--resume): it takes back workers that lost the previous one (takeover.ts) */
  takeBack?: boolean;
  /** first epoch to run (1, or the one after a resumed checkpoint) */
  startEpoch: number;
  /** the checkpoint directory workers restore from ('' for a fresh job) */
  resumeFrom: string;
  /** the global step of that checkpoint: one mid-epoch continues startEpoch there (default 0) */
  resumeStep?: number;
  /** write a checkpoint at every epoch end (always at the last) */
  checkpointEveryEpoch: boolean;
  /** the freeze plan whose boundary events every epoch plan announces (default: none) */
  freeze?: { boundaryAt(step: number): string; events: readonly { step: number; boundary: string }[] };
  onEpoch?: (r: EpochRecord) => void;
  onProgress?: (workerId: string, p: StepProgress) => void;
  onMembership?: (c: MembershipChange) => void;
}

export interface CoordinatorResult {
  epochs: EpochRecord[];
  members: Formed['members'];
  modelInfo: Record<string, unknown>;
  membership: MembershipChange[];
}

export { RingReducer } from './ring-reducer';
export type { WorkerOptions } from './worker';
export { runWorker, WorkerError } from './worker';
export type { EpochContext, EpochOutcome } from './worker-epoch';
export { runWorkerEpoch } from './worker-epoch';

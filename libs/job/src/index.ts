export type { Overrides } from './load-job';
export { loadJob, validateJob } from './load-job';
export type { JobSpec } from './schema';
export type { WorkerSettings } from './worker-settings';
export { validateWorkerSettings } from './worker-settings';

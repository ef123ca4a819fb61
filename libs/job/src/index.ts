export type { Overrides } from './load-job';
export { applyOverrides, loadJob, readJobFile, validateJob } from './load-job';
export type { JobSpec, JobSpecInput } from './schema';
export { jobSpecSchema } from './schema';
export type { WorkerSettings } from './worker-settings';
export { validateWorkerSettings, workerSettingsSchema } from './worker-settings';

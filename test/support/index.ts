/**
 * What the cross-process tests in test/ share: running the CLI and fixtures as child processes,
 * temp dirs, job flags and run outputs, optimizer settings, checkpoint weights, process checks.
 */
export type { Outcome } from './attacker';
export { attacker, probe } from './attacker';
export type { CliResult, ProcessOptions, Running } from './cli';
export { CLI, ROOT, runCli, runFixture, runProcess, startCli, testTls } from './cli';
export type { JobFlags } from './job';
export { jobFlags, readJson, runPaths, smallFleetJob } from './job';
export { adam, sgd } from './optimizers';
export { alive, childrenOf } from './processes';
export type { TempDir } from './temp-dir';
export { tempDir } from './temp-dir';
export { checkpointWeights, maxAbsDiff } from './weights';

/**
 * What the cross-process tests in test/ share: running the CLI and fixtures as child processes,
 * temp dirs, job flags and run outputs, optimizer settings, checkpoint weights, process checks.
 */
export type { Outcome } from './attacker';
export { attacker, exchangeAs, probe } from './attacker';
export type { WatchedPage } from './browser';
export { CHROMIUM, chartPoints, launchBrowser, watchedPage } from './browser';
export type { CliResult, ProcessOptions, Running } from './cli';
export { CLI, ROOT, runCli, runFixture, runProcess, startCli, testTls } from './cli';
export { freePort, get, toolOrSkip, until } from './http';
export type { JobFlags } from './job';
export { elasticJob, jobFlags, readJson, runPaths, smallFleetJob } from './job';
export { adam, sgd } from './optimizers';
export { alive, childrenOf, localWorkerPid, noneNaming, processesNaming } from './processes';
export type { Prometheus } from './prometheus';
export { PROMETHEUS, PROMTOOL, startPrometheus } from './prometheus';
export type { TempDir } from './temp-dir';
export { tempDir } from './temp-dir';
export { checkpointWeights, maxAbsDiff, relativeDiff } from './weights';

/**
 * A training job as command-line flags, for tests that run `permafrost train` or a coordinator
 * with local workers: a small object in place of a long list of strings, and the places where a
 * named run keeps its cache, checkpoints and report.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The job flags the tests use (apps/cli job-flags.ts defines them all); each key becomes --kebab-case. */
export interface JobFlags {
  model: string;
  inputSize: number;
  boundary?: string;
  trainableLast?: number;
  /** default mnist */
  dataset?: string;
  trainSamples?: number;
  valSamples?: number;
  freeze?: 'prefix' | 'last-k' | 'freezeout' | 'none';
  k?: number;
  schedule?: 'linear' | 'squared' | 'cubic';
  t0?: number;
  epochs?: number;
  batchSize?: number;
  optimizer?: 'sgd' | 'adam';
  lr?: number;
  momentum?: number;
  /** default wasm */
  backend?: string;
  /** XNNPACK threads (default auto) */
  threads?: number | 'auto';
  seed?: number;
  cacheDir?: string;
  /** true: --no-cache */
  noCache?: boolean;
  checkpointDir?: string;
  report?: string;
}

/** `--flag value` pairs (a bare `--flag` for true) of every flag that is set. */
export function jobFlags(flags: JobFlags): string[] {
  const all: Record<string, string | number | boolean | undefined> = { dataset: 'mnist', backend: 'wasm', ...flags };
  return Object.entries(all).flatMap(([key, value]) => {
    if (value === undefined || value === false) return [];
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    return value === true ? [flag] : [flag, String(value)];
  });
}

/** Where run `name` under `root` keeps its cache (root/name/cache), checkpoints (root/name/ckpt) and report (root/name.json). */
export function runPaths(root: string, name: string): { cacheDir: string; checkpointDir: string; report: string } {
  return { cacheDir: join(root, name, 'cache'), checkpointDir: join(root, name, 'ckpt'), report: join(root, `${name}.json`) };
}

/** Parses a JSON file a run wrote (a report, a checkpoint's meta.json), to be checked field by field. */
export function readJson(path: string) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/**
 * A fleet job of a few seconds per epoch (a small MLP on 3000 MNIST samples, batch 8, 3 epochs):
 * long enough to poke at while it runs, run `name` under `root`; `flags` override.
 */
export function smallFleetJob(root: string, name: string, seed: number, flags: Partial<JobFlags> = {}): string[] {
  return jobFlags({
    model: 'mlp',
    inputSize: 14,
    trainableLast: 2,
    trainSamples: 3000,
    valSamples: 60,
    epochs: 3,
    batchSize: 8,
    seed,
    ...runPaths(root, name),
    ...flags,
  });
}

/**
 * The job of the elastic tests, the soak and the coordinator-loss test (a small MLP on 1440 MNIST
 * samples, adam, batch 48, 3 epochs), run `name` under `root`; `flags` override.
 */
export function elasticJob(root: string, name: string, flags: Partial<JobFlags> = {}): string[] {
  return jobFlags({
    model: 'mlp',
    inputSize: 14,
    trainableLast: 2,
    trainSamples: 1440,
    valSamples: 60,
    epochs: 3,
    batchSize: 48,
    optimizer: 'adam',
    lr: 0.01,
    seed: 5,
    ...runPaths(root, name),
    ...flags,
  });
}

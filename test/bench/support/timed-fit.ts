/**
 * One benchmark variant's training run, timed: `fit` on a prepared model with the activation cache
 * in a temporary directory (removed afterwards) when asked, each epoch's time and accuracy on
 * stderr, and the figures the FreezeOut benchmarks record. Wall time counts training and
 * validation from the first step to the last validation; building the model is left out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EpochRecord, fit } from '@permafrost/trainer';

type FitOptions = Parameters<typeof fit>[0];

export interface TimedFit {
  wallSeconds: number;
  trainSeconds: number;
  epochs: Pick<
    EpochRecord,
    | 'epoch'
    | 'seconds'
    | 'valSeconds'
    | 'valAccuracy'
    | 'boundary'
    | 'trainableLayers'
    | 'cached'
    | 'prefixSeconds'
    | 'cacheHits'
    | 'cacheMisses'
    | 'cacheReadSeconds'
    | 'cacheWriteSeconds'
  >[];
  valAccuracy: number;
  prefixSamples: number;
}

export async function timedFit(name: string, opts: Omit<FitOptions, 'cache' | 'onProgress'>, cached: boolean): Promise<TimedFit> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'permafrost-bench-fit-'));
  try {
    const t0 = performance.now();
    const r = await fit({
      ...opts,
      cache: cached ? { dir: cacheDir, codec: 'float32', modelName: opts.model.full.name } : undefined,
      onProgress: (e) => {
        if (e.type !== 'epoch') return;
        const { epoch, seconds, valAccuracy } = e.record;
        process.stderr.write(`${name}: epoch ${epoch} ${seconds.toFixed(1)} s, val ${valAccuracy.toFixed(4)}\n`);
      },
    });
    const wallSeconds = (performance.now() - t0) / 1000;
    r.trainer.dispose();
    return {
      wallSeconds,
      trainSeconds: r.epochs.reduce((a, e) => a + e.seconds, 0),
      epochs: r.epochs.map((e) => ({
        epoch: e.epoch,
        seconds: e.seconds,
        valSeconds: e.valSeconds,
        valAccuracy: e.valAccuracy,
        boundary: e.boundary,
        trainableLayers: e.trainableLayers,
        cached: e.cached,
        // the upstream's time on training batches (input, augmentation, frozen prefix): what a cache hit saves
        prefixSeconds: e.prefixSeconds,
        cacheHits: e.cacheHits,
        cacheMisses: e.cacheMisses,
        cacheReadSeconds: e.cacheReadSeconds,
        cacheWriteSeconds: e.cacheWriteSeconds,
      })),
      valAccuracy: r.epochs.at(-1)?.valAccuracy ?? Number.NaN,
      prefixSamples: r.prefixSamples,
    };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

/**
 * Benchmark: what the metrics endpoint costs a cached epoch. One process trains a cached job
 * epoch after epoch; every other epoch it runs as a worker with an HTTP port does: each step
 * updates the worker's Prometheus series (WorkerObserver) and a scraper in its own process GETs
 * /metrics every second. Two figures:
 *
 *   accounted  what the metrics cost an observed epoch, from unit costs measured apart from
 *              training (the machine is shared: timing a 5 µs call inside a step measures the
 *              other tenants' preemption, not the call): the epoch's steps times one step's
 *              update (the median of 5 runs of 20000 updates) plus the scrapes the epoch served
 *              times this process's CPU time per scrape (while 200 GETs from the scraper
 *              process arrive one after another), over the epoch's training time; the median
 *              over the observed epochs
 *   wall       the median of the pairs' on/off ratios of training seconds: the epochs alternate
 *              in pairs (off-on, on-off, ...) so that the machine's drift falls on both sides; on
 *              a shared machine its spread is far wider than 1%, so it is a cross-check only
 *
 * Also measured alone: one step's metric update, and rendering one scrape.
 *
 * Setup: mobilenet_v2 at 96x96 cut at out_relu, head gap-128-10, batch 32, Fashion-MNIST, the
 * cache filled in a first epoch that is not counted.
 * Run: npx nx run bench:observe -- [--samples 1024] [--pairs 8] [--interval-ms 1000]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { validateJob } from '@permafrost/job';
import { startObserveServer, VERSION, WorkerObserver } from '@permafrost/observe';
import { cacheOf, type LoopEvent, loopOptionsOf, prepareRun, TrainingLoop } from '@permafrost/trainer';
import { arg, machine, median, writeResults } from './support/bench-util';

const SAMPLES = Number(arg('samples', '1024'));
const PAIRS = Number(arg('pairs', '8'));
const INTERVAL_MS = Number(arg('interval-ms', '1000'));

interface Scraper {
  child: ChildProcess;
  say: (line: string) => void;
  /** says `line` and resolves with the scraper's next line, parsed */
  ask: <T>(line: string) => Promise<T>;
}

function startScraper(url: string): Scraper {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'support', 'scraper.ts'), url, String(INTERVAL_MS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const say = (line: string) => child.stdin?.write(`${line}\n`);
  return {
    child,
    say,
    ask: async <T>(line: string) => {
      const next = new Promise<string>((done) => lines.once('line', done));
      say(line);
      return JSON.parse(await next) as T;
    },
  };
}

/** This process's CPU milliseconds per scrape, while the scraper sends 200 GETs one after another. */
async function scrapeCpu(scraper: Scraper): Promise<number> {
  const c0 = process.cpuUsage();
  await scraper.ask('burst 200');
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / 200;
}

/** One step's metric update, microseconds (the median of 5 runs of 20000). */
function stepUpdateMicros(): number {
  const o = new WorkerObserver(VERSION);
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 1; i <= 20_000; i++) {
      const counters = { hits: i * 32, misses: 0, readMs: i, prefixMs: 0 };
      o.step({ epoch: r + 1, step: i, steps: 20_000, samples: i * 32, lossSum: i, seconds: i / 100, counters });
    }
    runs.push(((performance.now() - t0) * 1000) / 20_000);
  }
  return median(runs);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'permafrost-bench-observe-'));
  const job = validateJob({
    model: { name: 'mobilenet_v2', inputSize: 96, head: 'gap-128' },
    data: { dataset: 'fashion-mnist', trainSamples: SAMPLES, valSamples: 32 },
    train: { epochs: 1 + 2 * PAIRS, batchSize: 32, backend: 'auto', seed: 42 },
    cache: { dir },
  });
  const run = await prepareRun(job);
  const observer = new WorkerObserver(VERSION, dir);
  let observing = false;
  let served = 0;
  const loop = new TrainingLoop({
    ...loopOptionsOf(job, run),
    cache: cacheOf(job, dir),
    onEvent: (e: LoopEvent) => {
      if (observing && e.type === 'step') observer.step(e);
    },
  });
  // the worker's routes (serveWorker), with each scrape's rendering timed
  const http = await startObserveServer('127.0.0.1:0', {
    health: () => observer.health(),
    metricsContentType: observer.metrics.registry.contentType,
    metrics: () => {
      served++;
      return observer.metrics.text();
    },
  });
  const scraper = startScraper(`http://${http.address}/metrics`);
  const seconds = { off: [] as number[], on: [] as number[] };
  const epochs: { scrapes: number; seconds: number }[] = [];
  try {
    await loop.runEpoch(1);
    let epoch = 2;
    for (let p = 0; p < PAIRS; p++) {
      for (const on of p % 2 === 0 ? [false, true] : [true, false]) {
        observing = on;
        scraper.say(on ? 'on' : 'off');
        served = 0;
        const r = await loop.runEpoch(epoch++);
        (on ? seconds.on : seconds.off).push(r.seconds);
        if (on) epochs.push({ scrapes: served, seconds: r.seconds });
      }
    }
    scraper.say('off');
    const scrapeCpuMs = await scrapeCpu(scraper);
    const scrapes = await scraper.ask<{ scrapes: number; medianMs: number }>('report');
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) await observer.metrics.text();
    const renderMs = (performance.now() - t0) / 50;
    const updateMicros = stepUpdateMicros();
    const accounted = epochs.map((e) => ((loop.stepsPerEpoch * updateMicros) / 1000 + e.scrapes * scrapeCpuMs) / 1000 / e.seconds);
    const ratios = seconds.on.map((s, i) => s / (seconds.off[i] as number));
    writeResults('observe', {
      date: new Date().toISOString(),
      machine: machine(),
      backend: run.engine.backend,
      samples: SAMPLES,
      pairs: PAIRS,
      intervalMs: INTERVAL_MS,
      stepsPerEpoch: loop.stepsPerEpoch,
      epochSeconds: seconds,
      accounted,
      medianAccounted: median(accounted),
      pairRatios: ratios,
      medianRatio: median(ratios),
      scrapes: scrapes.scrapes,
      scrapeMs: scrapes.medianMs,
      renderMs,
      scrapeCpuMs,
      observedEpochs: epochs,
      stepUpdateMicros: updateMicros,
    });
  } finally {
    scraper.child.kill();
    await http.close();
    loop.trainer.dispose();
    await loop.close();
    await run.dataset.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

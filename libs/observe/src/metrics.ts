/**
 * The Prometheus metrics of a coordinator or a worker (docs/observability.md#metrics), named by
 * Prometheus conventions: base units (seconds, bytes), `_total` counters, `_seconds` histograms,
 * bounded labels. A worker's series carry no labels of their own (Prometheus adds the target's
 * `instance`); the coordinator's per-worker series carry `worker`, one of the job's members, and
 * the step-time split carries `phase`, one of read, compute, allreduce.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type Role = 'coordinator' | 'worker';
export const PHASES = ['read', 'compute', 'allreduce'] as const;
export type Phase = (typeof PHASES)[number];

/** step and allreduce times span a tiny MLP's sub-millisecond steps to a large model's seconds */
const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export class TrainMetrics {
  readonly registry = new Registry();
  readonly steps: Counter;
  readonly samples: Counter;
  readonly phaseSeconds: Counter;
  readonly stepDuration: Histogram;
  readonly allreduceDuration: Histogram;
  readonly allreduceBytes: Counter;
  readonly cacheHits: Counter;
  readonly cacheMisses: Counter;
  readonly cacheBytes: Gauge;
  readonly trainLoss: Gauge;
  readonly valLoss: Gauge;
  readonly valAccuracy: Gauge;
  readonly epoch: Gauge;
  readonly frozenBlocks: Gauge;
  readonly workers: Gauge;
  readonly generation: Gauge;
  readonly failures: Counter;
  readonly state: Gauge;

  /** `cacheBytes`: read at each scrape (the LMDB files grow as misses are written back) */
  constructor(
    readonly role: Role,
    version: string,
    cacheBytes?: () => number,
  ) {
    const registers = [this.registry];
    const byWorker = role === 'coordinator' ? ['worker'] : [];
    const c = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers });
    const g = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers });
    // steps and allreduces are timed where they run: the coordinator serves no histograms
    const h = (name: string, help: string) =>
      new Histogram({ name, help, buckets: SECONDS_BUCKETS, registers: role === 'worker' ? registers : [] });
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges with a counter's suffix, which `promtool check metrics` rejects
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
    g('permafrost_build_info', 'Permafrost build: version, Node.js version and role; always 1', ['version', 'node', 'role'])
      .labels(version, process.versions.node, role)
      .set(1);
    this.steps = c(
      'permafrost_train_steps_total',
      role === 'coordinator' ? 'Global optimizer steps every worker has completed' : 'Optimizer steps this worker has taken',
    );
    this.samples = c('permafrost_train_samples_total', 'Training samples trained', byWorker);
    this.phaseSeconds = c('permafrost_step_phase_seconds_total', 'Training step time by phase: read, compute, allreduce', [
      ...byWorker,
      'phase',
    ]);
    this.stepDuration = h('permafrost_step_duration_seconds', 'Duration of one training step on this worker');
    this.allreduceDuration = h('permafrost_allreduce_duration_seconds', 'Duration of one allreduce on this worker');
    this.allreduceBytes = c('permafrost_allreduce_bytes_total', 'Bytes put into allreduces', byWorker);
    this.cacheHits = c('permafrost_cache_hits_total', 'Activation-cache lookups of training batches that hit', byWorker);
    this.cacheMisses = c('permafrost_cache_misses_total', 'Activation-cache lookups of training batches that missed', byWorker);
    this.cacheBytes = new Gauge({
      name: 'permafrost_cache_bytes',
      help: 'Bytes of activation-cache files on disk',
      labelNames: byWorker,
      registers,
      collect() {
        if (cacheBytes) this.set(cacheBytes());
      },
    });
    this.trainLoss = g('permafrost_train_loss', 'Mean training loss of the current epoch so far');
    this.valLoss = g('permafrost_val_loss', 'Validation loss after the last epoch');
    this.valAccuracy = g('permafrost_val_accuracy', 'Validation accuracy after the last epoch, 0 to 1');
    this.epoch = g('permafrost_epoch', 'The epoch being trained (1-based)');
    this.frozenBlocks = g('permafrost_frozen_blocks', 'Blocks frozen so far by the freeze schedule');
    this.workers = g('permafrost_workers', 'Workers in the current membership');
    this.generation = g('permafrost_generation', 'Generation of the current membership');
    this.failures = c('permafrost_worker_failures_total', 'Workers lost or failed');
    this.state = g('permafrost_job_state', 'The job state: 1 for the current one', ['state']);
  }

  /** One-hot state gauge: the current state 1, the others 0. */
  setState(state: string, all: readonly string[]): void {
    for (const s of all) this.state.labels(s).set(s === state ? 1 : 0);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

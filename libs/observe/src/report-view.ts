/**
 * A finished run's report as a status view (`permafrost report show`), and two reports side by
 * side (`report compare`): the per-epoch numbers, the members, the freeze schedule the report
 * carries; per-step points and the workers' step-time split exist only live.
 */
import type { RunReport } from '@permafrost/trainer';
import { hitRate } from './fleet-view';
import { type MembershipEvent, measuredSpeedup, type StatusView } from './status-view';

export function reportView(r: RunReport): StatusView {
  const last = r.epochs.at(-1);
  const epochs = (r.resumedFromEpoch ?? 0) + r.epochs.length;
  const batch = Number(r.train.batchSize) || 1;
  const stepsPerEpoch = Math.max(1, Math.ceil(r.data.trainSamples / batch));
  const totalSteps = r.epochs.length * stepsPerEpoch;
  const done = epochs * stepsPerEpoch;
  return {
    source: 'report',
    jobId: r.jobId,
    state: 'finished',
    startedAt: r.startedAt,
    updatedAt: r.finishedAt,
    generation: (r.membership ?? []).at(-1)?.generation ?? 1,
    epoch: last?.epoch ?? 0,
    epochs,
    step: stepsPerEpoch,
    stepsPerEpoch,
    globalStep: totalSteps,
    totalSteps,
    samplesPerSec: r.final.samplesPerSec,
    cacheHitRate: last ? hitRate(last.cacheHits, last.cacheMisses) : null,
    etaSeconds: 0,
    workers: reportWorkers(r, stepsPerEpoch),
    membership: reportMembership(r),
    failures: [],
    epochPoints: r.epochs.map((e) => ({
      epoch: e.epoch,
      trainLoss: e.trainLoss,
      valLoss: e.valLoss,
      valAccuracy: e.valAccuracy,
      seconds: e.seconds,
      samplesPerSec: e.samplesPerSec,
      cacheHitRate: hitRate(e.cacheHits, e.cacheMisses),
      boundary: e.boundary,
      trainableLayers: e.trainableLayers,
    })),
    stepPoints: [],
    freeze: reportFreeze(r, done),
  };
}

/** The report's members as the view's workers, with the last epoch's samples per rank. */
function reportWorkers(r: RunReport, stepsPerEpoch: number): StatusView['workers'] {
  const last = r.epochs.at(-1);
  return r.members.map((m) => ({
    workerId: m.workerId,
    rank: m.rank,
    epoch: last?.epoch ?? 0,
    step: stepsPerEpoch,
    samples: last?.samplesByRank[m.rank] ?? 0,
    samplesPerSec: last ? (last.samplesByRank[m.rank] ?? 0) / Math.max(last.seconds, 1e-9) : 0,
    readSeconds: 0,
    computeSeconds: 0,
    allreduceSeconds: 0,
    cacheHitRate: null,
    rates: [],
  }));
}

/** The freeze schedule the report carries, each block frozen if its step was reached by `done`. */
function reportFreeze(r: RunReport, done: number): StatusView['freeze'] {
  if (!r.freeze) return null;
  return {
    policy: r.freeze.policy,
    blocks: r.freeze.blocks.map((b) => ({
      block: b.block,
      freezeStep: b.freezeStep ?? null,
      freezeEpoch: b.freezeEpoch ?? null,
      frozen: b.freezeStep !== undefined && b.freezeStep < done,
    })),
    events: r.freeze.events,
    paperSpeedup: r.freeze.paperSpeedup,
    cachedSpeedup: r.freeze.cachedSpeedup,
    measuredSpeedup: measuredSpeedup(r.epochs.map((e) => e.seconds)),
  };
}

/**
 * The generations of a report: the last members, and before them each change undone (the
 * workers a generation had are the next one's, less who joined, plus who left).
 */
function reportMembership(r: RunReport): MembershipEvent[] {
  let workers = r.members.map((m) => m.workerId).sort();
  const events: MembershipEvent[] = [];
  for (const c of [...(r.membership ?? [])].reverse()) {
    const reason = c.left.map((l) => `worker ${l.workerId} ${l.reason}`).join('; ') || `worker ${c.joined.join(', ')} joins`;
    events.unshift({ generation: c.generation, at: '', workers, left: c.left, joined: c.joined, reason });
    workers = [...workers.filter((w) => !c.joined.includes(w)), ...c.left.map((l) => l.workerId)].sort();
  }
  const first = { generation: 1, at: r.startedAt, workers, left: [], joined: [], reason: 'formed' };
  return [first, ...events];
}

/** Two or more reports as a table: one row per figure, one column per run, and each run over the first. */
export function compareTable(runs: { name: string; report: RunReport }[]): string {
  const rows: [string, (r: RunReport) => number | string][] = [
    ['model', (r) => String(r.model.name ?? '')],
    ['backend', (r) => r.backend],
    ['workers', (r) => r.workers],
    ['epochs', (r) => r.epochs.length],
    ['val accuracy', (r) => r.final.valAccuracy],
    ['val loss', (r) => r.final.valLoss],
    ['train loss', (r) => r.final.trainLoss],
    ['training seconds', (r) => r.final.seconds],
    ['samples/s', (r) => r.final.samplesPerSec],
    ['peak RSS MiB', (r) => r.final.peakRssBytes / 2 ** 20],
  ];
  const first = runs[0]?.report;
  const cell = (v: number | string) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v);
  const head = ['', ...runs.map((r) => r.name), ...runs.slice(1).map((r) => `${r.name}/${runs[0]?.name}`)];
  const body = rows.map(([label, f]) => [
    label,
    ...runs.map((r) => cell(f(r.report))),
    ...runs.slice(1).map((r) => {
      const a = first ? f(first) : 0;
      const b = f(r.report);
      return typeof a === 'number' && typeof b === 'number' && a !== 0 ? `${(b / a).toFixed(3)}x` : '';
    }),
  ]);
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return `${[head, ...body].map(line).join('\n')}\n`;
}

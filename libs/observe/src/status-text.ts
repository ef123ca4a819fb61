/**
 * The status view as text, for `permafrost status`: the job line, progress and ETA, one line per
 * worker (samples/s, step time by phase, cache hits), the freeze schedule, the epochs so far and
 * each membership change after the first generation (who left or joined, and why).
 */
import type { StatusView, WorkerView } from './status-view';

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(0)}%`);
const num = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '-';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function workerLine(w: WorkerView): string {
  const busy = w.readSeconds + w.computeSeconds + w.allreduceSeconds;
  const share = (x: number) => (busy > 0 ? `${((x / busy) * 100).toFixed(0)}%` : '-');
  return (
    `  ${w.rank.toString().padStart(3)}  ${w.workerId.padEnd(16)} step ${w.step}  ${w.samplesPerSec.toFixed(1)} samples/s  ` +
    `read ${share(w.readSeconds)} compute ${share(w.computeSeconds)} allreduce ${share(w.allreduceSeconds)}  cache hits ${pct(w.cacheHitRate)}`
  );
}

export function formatStatus(v: StatusView): string {
  const lines = [
    `job ${v.jobId}  ${v.state}${v.reason ? `: ${v.reason}` : ''}  generation ${v.generation}  workers ${v.workers.length}`,
    `epoch ${v.epoch}/${v.epochs}  step ${v.step}/${v.stepsPerEpoch}  (${v.globalStep}/${v.totalSteps} steps)  ` +
      `${v.samplesPerSec.toFixed(1)} samples/s  cache hits ${pct(v.cacheHitRate)}  ETA ${duration(v.etaSeconds)}`,
  ];
  if (v.workers.length > 0) lines.push('workers:', ...v.workers.map(workerLine));
  if (v.freeze) {
    const f = v.freeze;
    const frozen = f.blocks.filter((b) => b.frozen).map((b) => b.block);
    lines.push(
      `freeze ${f.policy}: ${frozen.length}/${f.blocks.length} blocks frozen${frozen.length ? ` (${frozen.join(', ')})` : ''}  ` +
        `expected speedup ${f.cachedSpeedup.toFixed(2)}x (paper ${f.paperSpeedup.toFixed(2)}x)  measured ${f.measuredSpeedup === null ? '-' : `${f.measuredSpeedup.toFixed(2)}x`}`,
    );
  }
  if (v.epochPoints.length > 0) {
    lines.push('epochs:');
    for (const e of v.epochPoints) {
      lines.push(
        `  ${String(e.epoch).padStart(3)}  train loss ${num(e.trainLoss)}  val loss ${num(e.valLoss)}  val acc ${pct(e.valAccuracy)}  ` +
          `${e.seconds.toFixed(2)} s  ${e.samplesPerSec.toFixed(1)} samples/s  cache hits ${pct(e.cacheHitRate)}`,
      );
    }
  }
  for (const m of v.membership.slice(1)) {
    const left = m.left.map((l) => (l.reason ? `${l.workerId}: ${l.reason}` : l.workerId));
    const who = [left.length ? `left ${left.join(', ')}` : '', m.joined.length ? `joined ${m.joined.join(', ')}` : ''].filter(Boolean);
    lines.push(`generation ${m.generation}: ${m.workers.length} workers${who.length ? ` (${who.join('; ')})` : ''}: ${m.reason}`);
  }
  for (const f of v.failures) lines.push(`failure at ${f.at}: ${f.reason}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Progress of long work. On a TTY: one line redrawn in place with a bar, counts, rate and named
 * values (epoch 2/3 [#####-----] 40/125 212 samples/s loss 0.53). Elsewhere: structured log lines,
 * at most one per `intervalMs`, plus every line the caller marks as a milestone.
 */
import { type LogFields, type Logger, log } from './logger';

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** minimum time between non-TTY log lines (default 5000 ms) */
  intervalMs?: number;
  logger?: Logger;
  barWidth?: number;
}

export class Progress {
  private lastLog = 0;
  private drawn = false;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY) && process.env.PERMAFROST_LOG !== 'silent';
  }

  /** Shows `label` at `done` of `total`, with `fields` (numbers are rounded for display). */
  update(label: string, done: number, total: number, fields: LogFields = {}): void {
    if (this.tty) {
      const width = this.opts.barWidth ?? 24;
      const filled = total > 0 ? Math.round((width * done) / total) : 0;
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
      const kv = Object.entries(fields)
        .map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : String(v)}`)
        .join('  ');
      const line = `${label} ${bar} ${done}/${total}  ${kv}`;
      const cols = this.stream.columns ?? 120;
      this.stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length))}\x1b[K`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastLog < (this.opts.intervalMs ?? 5000) && done < total) return;
    this.lastLog = now;
    (this.opts.logger ?? log()).info('progress', { label, done, total, ...fields });
  }

  /** A line that always shows (epoch summaries): ends the in-place line first on a TTY. */
  milestone(msg: string, fields: LogFields = {}): void {
    this.clear();
    (this.opts.logger ?? log()).info(msg, fields);
  }

  clear(): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(4);
}

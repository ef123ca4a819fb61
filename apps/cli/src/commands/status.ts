import { fetchStatus, formatStatus, type StatusView, splitHostPort, watchStatus } from '@permafrost/observe';
import { PermafrostError } from '@permafrost/telemetry';
import type { Command } from 'commander';
import { parseCount } from '../parse';

/** One view: JSON (one line) or text; on a TTY a watched view replaces the one before. */
function printer(json: boolean, watch: boolean): (v: StatusView) => void {
  const redraw = watch && !json && process.stdout.isTTY;
  return (v) => {
    if (json) process.stdout.write(`${JSON.stringify(v)}\n`);
    else process.stdout.write(`${redraw ? '\x1b[H\x1b[2J' : ''}${formatStatus(v)}${watch && !redraw ? '\n' : ''}`);
  };
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("a running job's progress, workers, freeze schedule and epochs, from the coordinator's HTTP port")
    .requiredOption('--coordinator <host:port>', "the coordinator's HTTP port (coordinator start --http)")
    .option('--watch', 'keep printing as the job progresses, until it ends')
    .option('--json', 'the status view as JSON (one object per line with --watch)')
    .option('--interval-ms <ms>', 'how often --watch asks (default 1000)')
    .option('--timeout-ms <ms>', 'how long one request may take (default 5000)')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const address = String(opts.coordinator);
      splitHostPort(address, '--coordinator');
      const timeoutMs = opts.timeoutMs === undefined ? 5000 : parseCount(String(opts.timeoutMs), '--timeout-ms', 1);
      const print = printer(Boolean(opts.json), Boolean(opts.watch));
      if (!opts.watch) {
        print(await fetchStatus(address, timeoutMs));
        return;
      }
      const intervalMs = opts.intervalMs === undefined ? 1000 : parseCount(String(opts.intervalMs), '--interval-ms', 100);
      const last = await watchStatus(address, { intervalMs, timeoutMs, onView: print, maxMs: 7 * 24 * 3600 * 1000 });
      if (last.state === 'failed') throw new PermafrostError('aborted', `the job failed: ${last.reason ?? 'no reason given'}`);
    });
}

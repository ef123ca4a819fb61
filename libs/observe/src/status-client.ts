/**
 * `permafrost status`'s side of the HTTP port: GET /api/status once, or every `intervalMs` until
 * the job ends (finished or failed) or the port stops answering. Polling the same JSON the
 * dashboard draws keeps one view of a job for browser, terminal and scripts, on the one port
 * a cluster already exposes (docs/observability.md#permafrost-status).
 */
import { get } from 'node:http';
import { PermafrostError } from '@permafrost/telemetry';
import type { StatusView } from './status-view';

/** GET /api/status from `address` (node:http: fetch refuses some ports a coordinator may use). */
export function fetchStatus(address: string, timeoutMs: number, token?: string): Promise<StatusView> {
  const url = `http://${address}/api/status`;
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return new Promise((done, fail) => {
    const req = get(url, { timeout: timeoutMs, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) fail(new PermafrostError('unavailable', `${url} answered ${res.statusCode}`));
        else {
          try {
            done(JSON.parse(body) as StatusView);
          } catch {
            fail(new PermafrostError('unavailable', `${url} answered something other than JSON`));
          }
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) =>
      fail(new PermafrostError('unavailable', `no coordinator answers at ${url} (${e.code ?? e.message})`)),
    );
  });
}

export interface WatchOptions {
  intervalMs: number;
  timeoutMs: number;
  /** called with every view that differs from the one before */
  onView: (v: StatusView) => void;
  /** stop after this long at the latest */
  maxMs: number;
  /** the job token, for a port that asks for it */
  token?: string;
}

/** Polls until the job ends, the port goes away (after it answered once), or `maxMs` passes. */
export async function watchStatus(address: string, o: WatchOptions): Promise<StatusView> {
  const end = Date.now() + o.maxMs;
  let last: StatusView | undefined;
  let lastKey = '';
  while (Date.now() < end) {
    let v: StatusView;
    try {
      v = await fetchStatus(address, o.timeoutMs, o.token);
    } catch (e) {
      // the coordinator closed its port after the job: the last view stands
      if (last) return last;
      throw e;
    }
    const key = `${v.state}/${v.globalStep}/${v.epochPoints.length}/${v.generation}/${v.workers.map((w) => w.step).join(',')}`;
    if (key !== lastKey) o.onView(v);
    lastKey = key;
    last = v;
    if (v.state === 'finished' || v.state === 'failed') return v;
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
  if (!last) throw new PermafrostError('deadline-exceeded', `no status from ${address}`);
  return last;
}

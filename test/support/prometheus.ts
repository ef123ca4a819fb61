/**
 * A real Prometheus server (Debian's `prometheus`) for tests: its config and storage in a temp
 * directory, on a free loopback port, scraping the given targets every second; its HTTP query API;
 * stopped (SIGTERM, then SIGKILL) by `stop`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, get, until } from './http';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

export interface Prometheus {
  url: string;
  /** an instant query's vector: one value per series, keyed by its `instance` label */
  query(q: string): Promise<Map<string, number>>;
  log: () => string;
  stop(): Promise<void>;
}

export async function startPrometheus(dir: string, targets: string[]): Promise<Prometheus> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: permafrost',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  try {
    await until('prometheus ready', async () => ((await get(`${url}/-/ready`)).status === 200 ? true : undefined), 30_000);
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  const query = async (q: string) => {
    const r = await get(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = JSON.parse(r.body) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`query ${q}: ${r.body}`);
    return new Map(body.data.result.map((s) => [s.metric.instance ?? '', Number(s.value[1])]));
  };
  return { url, query, log: () => log, stop };
}

/**
 * A fleet in containers: a podman network, a coordinator container and N worker containers, each
 * container with its own volume at the image's working directory (a worker's cache survives a
 * restart of its container; the coordinator writes its report there), every container with a
 * read-only root file system, as in deploy/k8s.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Podman } from './podman';

export interface FleetOptions {
  image: string;
  /** names of the network, containers and volumes start with it */
  prefix: string;
  workers: number;
  epochs: number;
  /** training samples (default 480: epochs of a fraction of a second) */
  trainSamples?: number;
}

export interface Fleet {
  coordinator: string;
  workers: string[];
  /** waits for the coordinator to exit: its code and the result line it printed */
  wait: (timeoutMs: number) => Promise<{ code: number; result: Record<string, unknown> }>;
  /** what a container wrote, stdout and stderr (since an ISO time, when given) */
  logs: (name: string, since?: string) => Promise<string>;
  /** resolves when a log line of container `name` matches `re` (polled each second, up to `timeoutMs`) */
  waitForLog: (name: string, re: RegExp, timeoutMs: number) => Promise<void>;
  /** the run report the coordinator wrote to its volume */
  report: () => Promise<{ epochs: { epoch: number; cacheHits: number; cacheMisses: number }[]; membership?: unknown[] }>;
}

const PORTS = { coordinator: 7070, peer: 7071, data: 7072 };
const WORKDIR = '/var/lib/permafrost';

/** A small job: an MLP on 14x14 MNIST whose first layers are frozen and cached. */
const job = (epochs: number, trainSamples = 480) =>
  [
    ['--model', 'mlp'],
    ['--input-size', '14'],
    ['--trainable-last', '2'],
    ['--dataset', 'mnist'],
    ['--train-samples', String(trainSamples)],
    ['--val-samples', '60'],
    ['--epochs', String(epochs)],
    ['--batch-size', '48'],
    ['--optimizer', 'sgd'],
    ['--lr', '0.2'],
    ['--backend', 'wasm'],
  ].flat();

/** `podman run -d` arguments every container of the fleet shares. */
const common = (network: string, name: string) => [
  'run',
  '--detach',
  '--name',
  name,
  '--hostname',
  name,
  '--network',
  network,
  '--read-only',
  '--env',
  'PERMAFROST_LOG=info',
];

/** Starts the network, the coordinator and the workers (each with a new volume). */
export async function startFleet(p: Podman, o: FleetOptions): Promise<Fleet> {
  const network = `${o.prefix}-net`;
  await p.ok(['network', 'create', '--internal', network]);
  p.created('network', network);
  const coordinator = `${o.prefix}-coordinator`;
  const jobId = `${o.prefix}-job`;
  await p.ok(['volume', 'create', coordinator]);
  p.created('volume', coordinator);
  p.created('container', coordinator);
  await p.ok([
    ...common(network, coordinator),
    ...['--volume', `${coordinator}:${WORKDIR}`, o.image],
    // the test's own internal podman network; certificates for separate hosts are test/security's subject
    ...['coordinator', 'start', '--insecure', '--listen', `0.0.0.0:${PORTS.coordinator}`, '--min-workers', String(o.workers)],
    ...['--job-id', jobId, '--report', `${WORKDIR}/report.json`, ...job(o.epochs, o.trainSamples)],
  ]);
  const workers = Array.from({ length: o.workers }, (_, i) => `${o.prefix}-worker-${i}`);
  for (const w of workers) {
    await p.ok(['volume', 'create', w]);
    p.created('volume', w);
    p.created('container', w);
    await p.ok([
      ...common(network, w),
      '--volume',
      `${w}:${WORKDIR}`,
      o.image,
      ...['worker', 'start', '--insecure', '--coordinator', `${coordinator}:${PORTS.coordinator}`, '--job-id', jobId, '--id', w],
      ...['--listen', `0.0.0.0:${PORTS.peer}`, '--advertise', `${w}:${PORTS.peer}`, '--data-listen', `0.0.0.0:${PORTS.data}`],
      ...['--cache-dir', `${WORKDIR}/cache`],
    ]);
  }
  const logs = async (name: string, since?: string) => {
    const r = await p.run(['logs', ...(since ? ['--since', since] : []), name]);
    return `${r.stdout}${r.stderr}`;
  };
  return {
    coordinator,
    workers,
    logs,
    waitForLog: async (name, re, timeoutMs) => {
      for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 1000))) {
        if (re.test(await logs(name))) return;
      }
      throw new Error(`${name}: no log line matching ${re} within ${timeoutMs} ms:\n${(await logs(name)).slice(-3000)}`);
    },
    report: async () => {
      const dir = await p.ok(['volume', 'inspect', '--format', '{{.Mountpoint}}', coordinator]);
      return JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    },
    wait: async (timeoutMs) => {
      const code = Number(await p.ok(['wait', coordinator], timeoutMs));
      const out = (await p.run(['logs', coordinator])).stdout.trim().split('\n');
      const last = out.at(-1) ?? '';
      return { code, result: last.startsWith('{') ? JSON.parse(last) : {} };
    },
  };
}

/** The data plane's chunk counts from a worker's `worker finished` log line. */
export function workerStats(log: string): { wireChunks: number; sharedChunks: number } {
  const line = log.split('\n').find((l) => l.includes('"msg":"worker finished"'));
  if (!line) throw new Error(`no "worker finished" line in:\n${log.slice(-3000)}`);
  return JSON.parse(line).dataPlane;
}

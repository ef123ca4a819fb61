/**
 * A fleet in containers: a podman network, a coordinator container and N worker containers, each
 * container with its own volume at the image's working directory (a worker's cache survives a
 * restart of its container; the coordinator writes its report there), every container with a
 * read-only root file system, as in deploy/k8s.
 */
import { spawnSync } from 'node:child_process';
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
  /** the workers dial the coordinator by its IP address, not its name (they join with no DNS) */
  coordinatorByIp?: boolean;
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
  /** the last `lines` lines of every container's log, workers first, each under its name */
  tails: (lines: number) => Promise<string>;
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

/** Starts worker container `name` on a new volume of its name, joining job `jobId` at host `coordinator`. */
async function startWorker(p: Podman, w: { image: string; network: string; name: string; coordinator: string; jobId: string }) {
  await p.ok(['volume', 'create', w.name]);
  p.created('volume', w.name);
  p.created('container', w.name);
  await p.ok([
    ...common(w.network, w.name),
    ...['--volume', `${w.name}:${WORKDIR}`, w.image],
    ...['worker', 'start', '--insecure', '--coordinator', `${w.coordinator}:${PORTS.coordinator}`, '--job-id', w.jobId, '--id', w.name],
    ...['--listen', `0.0.0.0:${PORTS.peer}`, '--advertise', `${w.name}:${PORTS.peer}`, '--data-listen', `0.0.0.0:${PORTS.data}`],
    ...['--cache-dir', `${WORKDIR}/cache`],
  ]);
}

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
  const coordinatorHost = o.coordinatorByIp
    ? await p.ok(['inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, coordinator])
    : coordinator;
  const workers = Array.from({ length: o.workers }, (_, i) => `${o.prefix}-worker-${i}`);
  for (const w of workers) await startWorker(p, { image: o.image, network, name: w, coordinator: coordinatorHost, jobId });
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
    tails: async (lines) => {
      const parts = await Promise.all(
        [...workers, coordinator].map(async (n) => `--- ${n}:\n${(await logs(n)).trim().split('\n').slice(-lines).join('\n')}`),
      );
      return parts.join('\n');
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

/**
 * Stops the DNS server of podman's networks (aardvark-dns) for `ms`: every lookup of a container's
 * name goes unanswered, as lookups can for tens of seconds after a container restarts with a new
 * address. Resolves once it answers again; `resumeDns` continues it on any other path.
 */
export async function silenceDns(ms: number): Promise<void> {
  const pids = aardvark();
  if (pids.length === 0) throw new Error('no aardvark-dns process: the network has no DNS server to stop');
  for (const pid of pids) signal(pid, 'SIGSTOP');
  try {
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    resumeDns();
  }
}

/** Continues a stopped aardvark-dns (idempotent). */
export function resumeDns(): void {
  for (const pid of aardvark()) signal(pid, 'SIGCONT');
}

/** Signals `pid`, unless it has exited meanwhile. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

function aardvark(): number[] {
  const r = spawnSync('pgrep', ['-x', 'aardvark-dns'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter(Boolean).map(Number);
}

/**
 * Worker processes on loopback, spawned by `coordinator start --local-workers N`. The group owns
 * its children: they die with the coordinator on every exit path (normal end, failure, an
 * uncaught error, a second SIGTERM or Ctrl-C), after `graceMs` with SIGTERM and then SIGKILL. They
 * run in a process group of their own, so a terminal's Ctrl-C reaches only the coordinator, whose
 * graceful stop (coordinator-stop.ts) ends them with the job.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { log } from '@permafrost/telemetry';

export type SpawnWorker = (index: number) => ChildProcess;

export interface LocalWorkerSpec {
  /** the CLI entry point the workers run (`permafrost`'s script) */
  entry: string;
  /** the coordinator's address */
  coordinator: string;
  jobId: string;
  /** worker i keeps its cache in `<cacheRoot>/local-i` */
  cacheRoot: string;
  count: number;
  /** worker i's TLS files; undefined: plaintext (`--insecure`) */
  tls: (index: number) => { ca: string; cert: string; key: string } | undefined;
}

/** The TLS flags of local worker `index`, or --insecure without TLS files. */
function tlsFlags(spec: LocalWorkerSpec, index: number): string[] {
  const f = spec.tls(index);
  return f ? ['--tls-ca', f.ca, '--tls-cert', f.cert, '--tls-key', f.key] : ['--insecure'];
}

/**
 * Starts local worker `index`: `permafrost worker start` on loopback, with its own id and cache
 * directory, its stderr (structured logs) passed through.
 */
export function spawnLocalWorker(spec: LocalWorkerSpec, index: number): ChildProcess {
  const args = [
    ...process.execArgv,
    ...sharedHostFlags(spec.count),
    spec.entry,
    'worker',
    'start',
    '--coordinator',
    spec.coordinator,
    '--job-id',
    spec.jobId,
    '--id',
    `local-${index}`,
    '--cache-dir',
    join(spec.cacheRoot, `local-${index}`),
    // a child of this coordinator: when it is lost, so are this process's TLS material and its
    // restarter, and a restarted coordinator starts its own (docs/distributed.md#losing-the-coordinator)
    '--coordinator-grace-ms',
    '0',
    ...sharedHostWorkerArgs(spec.count),
    ...tlsFlags(spec, index),
  ];
  return spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
    env: { ...process.env, PERMAFROST_WORKER_INDEX: String(index) },
  });
}

/**
 * Node flags for workers that share this host. Like torchrun, which sets OMP_NUM_THREADS=1 when it
 * starts several processes on a node: each worker's collector would otherwise mark and sweep on
 * background threads (about 0.4 of a core per worker in a cached epoch), and with two workers on
 * two cores those threads preempt the other worker's training thread, which then stalls both at
 * the next allreduce. Collecting on the worker's own thread costs that worker little and keeps
 * the lockstep tight (see the scaling benchmark). A single local worker keeps V8's defaults.
 */
export function sharedHostFlags(localWorkers: number): string[] {
  return localWorkers > 1 ? ['--single-threaded-gc'] : [];
}

/**
 * `worker start` arguments for workers that share this host: one XNNPACK thread each, so N
 * workers on N cores do not each start a pool of N threads and preempt one another (a worker
 * alone keeps its default, every core).
 */
export function sharedHostWorkerArgs(localWorkers: number): string[] {
  return localWorkers > 1 ? ['--threads', '1'] : [];
}

export class LocalWorkers {
  private readonly children: ChildProcess[] = [];
  private readonly exits: Promise<number | null>[] = [];
  private readonly onExit = () => this.killNow();
  /** called with (index, code, signal) when a worker exits while the job still needs it */
  onUnexpectedExit: ((index: number, code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  private stopping = false;

  constructor(
    count: number,
    private readonly spawn: SpawnWorker,
    private readonly graceMs = 5000,
  ) {
    process.once('exit', this.onExit);
    for (let i = 0; i < count; i++) this.watch(i, spawn(i));
  }

  private watch(i: number, child: ChildProcess): void {
    this.children[i] = child;
    this.exits[i] = new Promise((done) =>
      child.once('exit', (code, signal) => {
        log().info('local worker exited', { index: i, pid: child.pid, code, signal });
        // deferred: the handler may restart the worker, which replaces this exit's promise
        if (!this.stopping && code !== 0) setImmediate(() => this.onUnexpectedExit?.(i, code, signal));
        done(code);
      }),
    );
    log().debug('local worker started', { index: i, pid: child.pid });
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? -1);
  }

  /** Starts worker `index` again (it exited): the same id and cache directory. */
  restart(index: number): void {
    if (this.stopping) return;
    this.watch(index, this.spawn(index));
  }

  /** Waits up to `graceMs` for the workers to exit by themselves, then terminates the rest. */
  async stop(): Promise<void> {
    this.stopping = true;
    const timeout = new Promise((r) => setTimeout(r, this.graceMs).unref());
    await Promise.race([Promise.all(this.exits), timeout]);
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.race([Promise.all(this.exits), new Promise((r) => setTimeout(r, 2000).unref())]);
    this.killNow();
    await Promise.all(this.exits);
    this.detach();
  }

  private killNow(): void {
    this.stopping = true;
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }

  private detach(): void {
    process.removeListener('exit', this.onExit);
  }
}

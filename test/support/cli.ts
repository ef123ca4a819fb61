/**
 * Child processes for cross-process tests: the real CLI run to completion or watched while it
 * runs, a test fixture script, or any other command, each killed after a bounded time so no test
 * hangs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fleetTls, withFleetTls } from './fleet-certs';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'bin', 'permafrost.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ProcessOptions {
  /** default: the repository root */
  cwd?: string;
  /** added to this process's environment */
  env?: Record<string, string>;
  /** SIGKILL after this long; default 120 s */
  timeoutMs?: number;
  /** false: no certificates added to a coordinator or worker started without local workers */
  tls?: boolean;
}

/** Runs `command ...args` to its end and collects what it wrote. */
export function runProcess(command: string, args: string[], opts: ProcessOptions = {}): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** The environment every CLI run gets unless the test says otherwise: info-level JSON logs. */
const cliEnv = (env: Record<string, string> = {}) => ({ PERMAFROST_LOG: 'info', ...env });

/** TLS files of `name` under the test process's job CA (coordinator, tool, worker-7 for a test's own client) */
export const testTls = (name: string) => fleetTls(CLI, name);

/** `args` with the test process's certificates where they are needed (fleet-certs.ts) */
const secured = (args: string[], tls = true) => (tls ? withFleetTls(CLI, args) : args);

/** Runs `permafrost ...args`, killing it after `timeoutMs` (default 120 s). */
export function runCli(args: string[], opts: ProcessOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...secured(args, opts.tls)], { ...opts, env: cliEnv(opts.env) });
}

/** Runs test/fixtures/`name` (TypeScript, through tsx) with `args`. */
export function runFixture(name: string, args: string[], opts: ProcessOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'fixtures', name), ...args], opts);
}

export interface Running {
  child: ChildProcess;
  /** everything written to stderr so far */
  stderr: () => string;
  /** resolves with the first stderr line matching `re`; rejects after `timeoutMs` */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `permafrost ...args` and lets the test watch its log lines while it runs (SIGKILL after `killAfterMs`, default 180 s). */
export function startCli(args: string[], env: Record<string, string> = {}, opts: { tls?: boolean; killAfterMs?: number } = {}): Running {
  const child = spawn(process.execPath, [CLI, ...secured(args, opts.tls)], {
    cwd: ROOT,
    env: { ...process.env, ...cliEnv(env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const watchers: { re: RegExp; ok: (line: string) => void }[] = [];
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
    for (const w of [...watchers]) {
      const line = err.split('\n').find((l) => w.re.test(l));
      if (line) {
        watchers.splice(watchers.indexOf(w), 1);
        w.ok(line);
      }
    }
  });
  child.stdout?.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal, at: Date.now() })),
  );
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 180_000);
  exit.then(() => clearTimeout(killer));
  return {
    child,
    stderr: () => err,
    exit,
    waitFor: (re, timeoutMs = 60_000) =>
      new Promise((ok, fail) => {
        const line = err.split('\n').find((l) => re.test(l));
        if (line) return ok(line);
        const timer = setTimeout(() => fail(new Error(`no log line matching ${re} within ${timeoutMs} ms:\n${err}`)), timeoutMs);
        watchers.push({
          re,
          ok: (l) => {
            clearTimeout(timer);
            ok(l);
          },
        });
      }),
  };
}

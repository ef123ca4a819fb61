/** Shared helpers for cross-process tests: run the real CLI as a child process, temp dirs. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'bin', 'permafrost.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `permafrost ...args`, killing it after `timeoutMs` (default 120 s) so no test hangs. */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, PERMAFROST_LOG: 'info', ...opts.env },
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

export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `permafrost-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export interface Running {
  child: ChildProcess;
  /** everything written to stderr so far */
  stderr: () => string;
  /** resolves with the first stderr line matching `re`; rejects after `timeoutMs` */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `permafrost ...args` and lets the test watch its log lines while it runs. */
export function startCli(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, PERMAFROST_LOG: 'info', ...env },
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
  const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
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

/** Whether a process id is still alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Child process ids of `pid` (Linux /proc). */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * Shared plumbing for benchmarks: child-process variants, medians, the JSON result. The JSON is the
 * benchmark's only output; docs/benchmarks.md is generated from it (`npm run bench:report`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';

export const RESULTS = resolve(import.meta.dirname, '../results');

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Runs `script --variant name ...args` in a fresh Node process (under `wrapper`, a command such
 * as taskset that runs the rest, when given); returns its last stdout line as JSON.
 */
export function runVariant<T>(
  script: string,
  name: string,
  args: string[] = [],
  timeoutMs = 3_600_000,
  nodeArgs: string[] = [],
  wrapper: string[] = [],
): Promise<T> {
  return new Promise((done, fail) => {
    const command = [...wrapper, process.execPath, ...nodeArgs, '--import', 'tsx', script, '--variant', name, ...args];
    const child = spawn(command[0] as string, command.slice(1), {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, PERMAFROST_LOG: process.env.PERMAFROST_LOG ?? 'warn' },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').at(-1);
      if (code !== 0 || !last) fail(new Error(`variant ${name} exited ${code}`));
      else done(JSON.parse(last) as T);
    });
  });
}

export function machine(): Record<string, unknown> {
  return { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, platform: process.platform };
}

export function writeResults(name: string, json: unknown): void {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`written: ${file}\nrun \`npm run bench:report\` to regenerate docs/benchmarks.md\n`);
}

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** Which processes are still there: for tests that check a job leaves no orphans. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

/** Whether a process id is still alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Child process ids of `pid` (Linux /proc), only those whose command line matches `cmdline` if given. */
export function childrenOf(pid: number, cmdline?: RegExp): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const parent = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
        return parent === String(pid) && (!cmdline || cmdline.test(readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ')));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The process ids of every process whose command line names `text` (a run's directory). */
export function processesNaming(text: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Asserts that no process names `text` within 5 s (a job's processes exit, or are killed, as it ends). */
export async function noneNaming(text: string): Promise<void> {
  for (let i = 0; i < 50 && processesNaming(text).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(processesNaming(text), [], 'processes of the job still running');
}

/** The process id of local worker `id` (`--id local-1`) of the coordinator process `coordinatorPid`. */
export function localWorkerPid(coordinatorPid: number, id: string): number {
  const [pid] = childrenOf(coordinatorPid, new RegExp(` --id ${id} `));
  assert.ok(pid, `no process of worker ${id}`);
  return pid;
}

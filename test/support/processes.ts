/** Which processes are still there: for tests that check a job leaves no orphans. */
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

/**
 * Other work's share of the machine while a benchmark ran, in vCPUs.
 *
 * The load average cannot tell: it counts the benchmark's own threads, so a 2-thread run on an
 * otherwise idle 2-vCPU machine reads about 2. Instead, from Linux's counters:
 *
 *   foreign = (busy ticks of the whole machine, /proc/stat)
 *           - (ticks of this process and of every child it waited for, /proc/self/stat
 *              utime + stime + cutime + cstime)
 *   over the wall time, in vCPUs (ticks are USER_HZ, 100 per second on Linux).
 *
 * Children count once they have exited and been waited for, which is how every benchmark runs
 * its variants (a process each); a mark taken while a child runs leaves that child out, so take
 * marks between variants. Where /proc is missing (not Linux) the figure is undefined.
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

export interface CpuMark {
  wallMs: number;
  busyTicks: number;
  ownTicks: number;
}

/** The counters now, or undefined where /proc cannot be read. */
export function cpuMark(): CpuMark | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq steal ...: busy leaves out idle, iowait and steal
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = cpu;
    const self = readFileSync('/proc/self/stat', 'utf8');
    // fields after the command name (which may hold spaces) start at field 3, state
    const rest = self
      .slice(self.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const own = (rest[11] ?? 0) + (rest[12] ?? 0) + (rest[13] ?? 0) + (rest[14] ?? 0);
    return { wallMs: Date.now(), busyTicks: user + nice + system + irq + softirq, ownTicks: own };
  } catch {
    return undefined;
  }
}

/** Average vCPUs other work kept busy between two marks (never below 0). */
export function foreignCpus(start: CpuMark | undefined, end: CpuMark | undefined): number | undefined {
  if (!start || !end || end.wallMs <= start.wallMs) return undefined;
  const ticks = end.busyTicks - start.busyTicks - (end.ownTicks - start.ownTicks);
  const seconds = (end.wallMs - start.wallMs) / 1000;
  return Math.max(0, ticks / TICKS_PER_SECOND / seconds);
}

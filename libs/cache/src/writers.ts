/**
 * Who is writing a cache right now. LMDB lets any number of processes write one environment (it
 * serialises their transactions), so it has no notion of "a training run is using this cache";
 * `cache gc` needs one, to never delete the entries of a run in progress. Each process that opens
 * a cache for writing leaves one file `writers/<pid>-<random>.json` in the cache directory and
 * removes it on close and on process exit. A process killed outright leaves its file behind, so a
 * file only counts while its process is alive: same host, the pid exists, and (on Linux) the
 * process started at the recorded time, so a recycled pid is not mistaken for the writer.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const WRITERS_DIR = 'writers';

export type WriterRole = 'train' | 'gc' | 'repair';

export interface WriterInfo {
  pid: number;
  host: string;
  role: WriterRole;
  started: string;
  /** the process's start time in clock ticks since boot (Linux), to tell a recycled pid apart */
  procStart?: string;
  bootId?: string;
  /** the command line, to tell the user what holds the cache */
  command: string;
}

export interface WriterEntry extends WriterInfo {
  file: string;
}

export interface WriterRegistration {
  file: string;
  release(): void;
}

/** Files of this process still registered; removed on exit when close() was never reached. */
const open = new Set<string>();
let exitHook = false;

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone (released twice, or a gc cleaned it as stale)
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (starttime); the command name before it may contain spaces. */
function procStart(pid: number | 'self'): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export function registerWriter(dir: string, role: WriterRole): WriterRegistration {
  const writers = join(dir, WRITERS_DIR);
  mkdirSync(writers, { recursive: true });
  const info: WriterInfo = {
    pid: process.pid,
    host: hostname(),
    role,
    started: new Date().toISOString(),
    procStart: procStart('self'),
    bootId: readText('/proc/sys/kernel/random/boot_id'),
    command: process.argv.slice(1).join(' ').slice(0, 500),
  };
  const file = join(writers, `${process.pid}-${randomBytes(4).toString('hex')}.json`);
  // written whole under another name, then renamed: a reader never sees half a file
  writeFileSync(`${file}.tmp`, `${JSON.stringify(info)}\n`);
  renameSync(`${file}.tmp`, file);
  open.add(file);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const f of open) removeQuietly(f);
    });
  }
  return {
    file,
    release: () => {
      open.delete(file);
      removeQuietly(file);
    },
  };
}

/** Whether the writer of `w` still runs; writers on another host are assumed to (we cannot ask). */
export function writerAlive(w: WriterInfo): boolean {
  if (w.host !== hostname()) return true;
  try {
    process.kill(w.pid, 0);
  } catch (e) {
    // EPERM: the process exists but belongs to another user
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const bootId = readText('/proc/sys/kernel/random/boot_id');
  if (w.bootId !== undefined && bootId !== undefined && w.bootId !== bootId) return false;
  const now = procStart(w.pid);
  return w.procStart === undefined || now === undefined || now === w.procStart;
}

/**
 * The registered writers of a cache, split into live and stale; `removeStale` deletes the files
 * of writers that are gone (a crash or SIGKILL). Unreadable files count as stale.
 */
export function listWriters(dir: string, opts: { removeStale?: boolean } = {}): { live: WriterEntry[]; stale: WriterEntry[] } {
  const writers = join(dir, WRITERS_DIR);
  const live: WriterEntry[] = [];
  const stale: WriterEntry[] = [];
  if (!existsSync(writers)) return { live, stale };
  for (const name of readdirSync(writers).sort()) {
    if (!name.endsWith('.json')) continue;
    const file = join(writers, name);
    let info: WriterInfo | undefined;
    try {
      info = JSON.parse(readFileSync(file, 'utf8')) as WriterInfo;
    } catch {
      // files are renamed into place whole, so this one is garbage
      info = undefined;
    }
    if (info === undefined) {
      stale.push({ pid: 0, host: '', role: 'train', started: '', command: '', file });
    } else if (open.has(file) || writerAlive(info)) {
      live.push({ ...info, file });
    } else {
      stale.push({ ...info, file });
    }
  }
  if (opts.removeStale) for (const w of stale) removeQuietly(w.file);
  return { live, stale };
}

/**
 * Markdown building blocks for the benchmark report: aligned tables, number formats and the
 * setup lines every section opens with. Everything here is a pure function of its arguments, so
 * the report is byte-for-byte the same for the same JSON.
 */

export type Cell = string | number;

/** A number as the benchmark tables show it: integers from 100 up, two decimals below. */
export function num(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
}

export const times = (x: number, digits = 2): string => (Number.isFinite(x) ? `${x.toFixed(digits)}x` : 'n/a');
export const percent = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : 'n/a');
export const signedPercent = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%` : 'n/a');
export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);

/** A table with its columns padded to a common width, so that it also reads as plain text. */
export function table(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? num(c) : c)))];
  const width = header.map((_, i) => Math.max(3, ...text.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `| ${width.map((w, i) => (r[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(text[0] as string[]), `| ${width.map((w) => '-'.repeat(w)).join(' | ')} |`, ...text.slice(1).map(line)].join('\n');
}

/** What every result file records about where it ran (bench-util's machine()). */
export interface Machine {
  cpus: number;
  cpu?: string;
  node?: string;
  platform?: string;
}

/** The setup lines of a section: the command that made the result, when and where it ran. */
export function setup(command: string, date: string, machine: Machine, extra: readonly string[] = []): string[] {
  const where = [`${machine.cpus} vCPUs`, machine.cpu, machine.node ? `Node ${machine.node}` : undefined, machine.platform]
    .filter(Boolean)
    .join(', ');
  return [`- command: \`${command}\``, `- date: ${date.slice(0, 10)}`, `- machine: ${where}`, ...extra.map((e) => `- ${e}`)];
}

/** "met" when every check passed, else "not met", with the count. */
export function verdict(passed: number, judged: number): string {
  return `${passed === judged ? '**met**' : '**not met**'} (${passed} of ${judged})`;
}

export const metOrNot = (ok: boolean): string => (ok ? 'met' : 'not met');

/** A timed run is judged when other work kept at most this many vCPUs busy on average. */
export const FOREIGN_CPU_LIMIT = 0.25;

/**
 * Whether the vCPUs other work kept busy during a run (test/bench/support/foreign-cpu.ts, one figure
 * per variant or per run) allow judging its timed ratios: null when not recorded, '' when they do,
 * else the reason they do not.
 */
export function foreignNote(foreign: readonly (number | null | undefined)[] | undefined): string | null {
  const known = (foreign ?? []).filter((x): x is number => typeof x === 'number');
  if (known.length === 0) return null;
  const peak = Math.max(...known);
  if (peak <= FOREIGN_CPU_LIMIT) return '';
  return `other work kept ${peak.toFixed(2)} vCPUs busy on average while a variant ran (limit ${FOREIGN_CPU_LIMIT}), so the timed ratios are no evidence either way`;
}

/** The setup line that says how busy the machine was, from foreignNote's input. */
export function foreignLine(foreign: readonly (number | null | undefined)[] | undefined, per = 'per variant'): string | undefined {
  const known = (foreign ?? []).filter((x): x is number => typeof x === 'number');
  if (known.length === 0) return undefined;
  return `other work on the machine: ${known.map((x) => x.toFixed(2)).join(' / ')} vCPUs on average (CPU time of the whole machine less the benchmark's own, ${per}; judged up to ${FOREIGN_CPU_LIMIT})`;
}

/** A list of the one value, or empty where it is undefined (for optional setup lines). */
export const optional = <T>(x: T | undefined): T[] => (x === undefined ? [] : [x]);

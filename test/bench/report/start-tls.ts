/**
 * start-tls: the quick-start job (`npm start`) with TLS, its default, and with `--insecure`, run
 * alternately (test/bench/start-tls.ts). The medians, spreads and the ratio are recomputed here
 * from each run's seconds; a run whose load average exceeded the vCPUs is shown but not judged.
 * The ratio also goes into docs/security.md (main.ts, `startTlsBlock`).
 */
import type { Run, Variant } from '../start-tls';
import { median } from '../support/bench-util';
import { foreignLine, foreignNote, metOrNot, num, optional, percent, setup, signedPercent, table } from './markdown';
import type { ResultBase, Section } from './section';

interface Result extends ResultBase {
  /** `overrides`: flags given to every run besides the example's (a quick check's smaller job) */
  job: { config: string; localWorkers: number; overrides: string[] };
  rounds: number;
  cache: 'warm' | 'cold';
  load: number[];
  /** vCPUs other work kept busy during each timed run, in the order run */
  foreignCpu?: (number | null)[];
  runs: Run[];
}

/** target: TLS adds less than this to npm start's run time */
const TARGET = 0.05;

const of = (r: Result, v: Variant) => r.runs.filter((x) => x.variant === v);

function stats(r: Result, v: Variant) {
  const wall = of(r, v).map((x) => x.wallSeconds);
  const m = median(wall);
  return { wall, median: m, spread: (Math.max(...wall) - Math.min(...wall)) / m, train: median(of(r, v).map((x) => x.trainSeconds)) };
}

/** TLS's median run time over plaintext's, minus one */
const overhead = (r: Result) => stats(r, 'tls').median / stats(r, 'plaintext').median - 1;

/** Why the ratio is not judged, when the machine was loaded beyond its vCPUs. */
function loadedNote(r: Result): string | undefined {
  const foreign = foreignNote(r.foreignCpu);
  if (foreign !== null) return foreign ? `not judged: ${foreign}` : undefined;
  const peak = Math.max(...r.load);
  if (peak <= r.machine.cpus) return undefined;
  return `not judged: the load average reached ${peak.toFixed(1)} on ${r.machine.cpus} vCPUs (other work shared the machine), so the ratio is no evidence either way`;
}

const overrides = (r: Result) => r.job.overrides.map((f) => ` ${f}`).join('');
const command = (r: Result) => `npx nx run bench:start-tls -- --rounds ${r.rounds} --cache ${r.cache}${overrides(r)}`;

/** The ratio row: TLS over plaintext, its target and verdict. */
export function startTlsRow(json: unknown): string[] {
  const r = json as Result;
  const x = overhead(r);
  const verdict = loadedNote(r) ? 'not judged (machine loaded)' : metOrNot(x < TARGET);
  return ['npm start run time, TLS / plaintext', signedPercent(x), `< +${percent(TARGET)}`, verdict];
}

/** The table of the two variants and the ratio, for the benchmark's section and docs/security.md. */
export function startTlsTable(json: unknown): string {
  const r = json as Result;
  const row = (label: string, v: Variant) => {
    const s = stats(r, v);
    return [label, s.wall.map((w) => w.toFixed(1)).join(' / '), num(s.median), percent(s.spread), num(s.train)];
  };
  return [
    table(
      ['variant', 'run time per run, s', 'median s', 'spread', 'median training s'],
      [row('TLS (the default: ephemeral CA)', 'tls'), row('plaintext (`--insecure`)', 'plaintext')],
    ),
    '',
    table(['ratio', 'value', 'target', 'verdict'], [startTlsRow(r)]),
  ].join('\n');
}

/** The setup line of the run: when, its load, rounds and cache. */
export function startTlsLine(json: unknown): string {
  const r = json as Result;
  const [a, b] = r.load;
  return `${r.rounds} ${r.rounds === 1 ? 'round' : 'rounds'} (TLS, plaintext, alternately), ${r.cache} cache; load average ${a?.toFixed(1)} at the start, ${b?.toFixed(1)} at the end on ${r.machine.cpus} vCPUs`;
}

export const startTls: Section = {
  name: 'start-tls',
  summary: '`npm start` with TLS (the default) against `--insecure`: what encryption and authentication cost the quick start',
  render(json) {
    const r = json as Result;
    const note = loadedNote(r);
    const x = overhead(r);
    return [
      ...setup(command(r), r.date, r.machine, [
        startTlsLine(r),
        `job: ${r.job.config} with --local-workers ${r.job.localWorkers}, as \`npm start\` runs it${r.job.overrides.length ? `, made smaller with${overrides(r)}` : ''}; TLS with no flags (the coordinator's ephemeral CA and certificates, made at each start and counted), plaintext with \`--insecure\``,
        ...optional(foreignLine(r.foreignCpu, 'per timed run')),
        `each run a fresh process timed from spawn to exit; ${r.cache === 'warm' ? 'every run reads one activation cache filled by an untimed run first, so the allreduce is a larger share of the time than in a first run' : 'every run starts with an empty activation cache, as a first `npm start`'}; spread is (max - min) / median`,
      ]),
      '',
      startTlsTable(r),
      '',
      `Verdict: ${note ?? `${x < TARGET ? '**met**' : '**not met**'} (TLS adds ${signedPercent(x)} to the median run time)`}.`,
    ];
  },
  headline(json) {
    const [, value, target, verdict] = startTlsRow(json);
    return { figure: `npm start run time, TLS over plaintext: ${value}`, target: target as string, verdict: verdict as string };
  },
};

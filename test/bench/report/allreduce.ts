/**
 * allreduce: ring allreduce over the data plane (tcp, tcp-wire) and the gRPC Peer service against
 * what grpc-js and node:net move point to point (test/bench/allreduce.ts). busbw, the ratios to the
 * references, CPU per MiB and the verdicts are recomputed here from the repetitions' times.
 */
import { median } from '../support/bench-util';
import { num, percent, setup, table, times, verdict } from './markdown';
import type { ResultBase, Section } from './section';

const MiB = 1024 * 1024;

interface Timings {
  bytes: number;
  times: number[];
  cpuMs: number[];
}

interface Result extends ResultBase {
  /** the 1-minute load average at the start and the end of the run (absent in older results) */
  load?: [number, number];
  reps: number;
  chunkElements: number;
  transports: string[];
  target: { ratio: number; fromMiB: number; reference: string };
  p2p: Timings[];
  p2pReceiveCpuMs: number[][];
  p2pBothWays: Timings[];
  tcpP2p: Timings[];
  tcpP2pReceiveCpuMs: number[][];
  ring: (Timings & { transport: string; n: number })[];
  /** [chunk KiB, MiB, median ms, busbw GB/s] */
  tuning: [number, string, number, number][];
}

const TRANSPORTS: Record<string, string> = {
  tcp: 'the data plane between workers of one host: frame heads over TCP, values through shared memory',
  'tcp-wire': 'the same with shared memory off: the path between hosts',
  tls: 'tcp over mutual TLS (the default): frame heads encrypted, values through shared memory',
  'tls-wire': 'tcp-wire over mutual TLS: every value encrypted, the path between hosts',
  grpc: 'the gRPC Peer service',
};

const gbps = (bytes: number, ms: number) => bytes / (ms / 1000) / 1e9;
/** nccl-tests' bus bandwidth: what each link of an n-ring carries */
const busbw = (n: number, t: Timings) => (gbps(t.bytes, median(t.times)) * 2 * (n - 1)) / n;
const cpuPerMiB = (cpuMs: number[], bytes: number) => median(cpuMs) / (bytes / MiB);
const unique = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);

/** The reference of the same size, in GB/s. */
function ref(list: Timings[], bytes: number): number {
  const t = list.find((x) => x.bytes === bytes);
  return t ? gbps(bytes, median(t.times)) : Number.NaN;
}

function judge(r: Result) {
  return r.transports.map((transport) => {
    const judged = r.ring.filter((x) => x.transport === transport && x.bytes >= r.target.fromMiB * MiB);
    const ratios = judged.map((x) => busbw(x.n, x) / ref(r.p2p, x.bytes));
    return { transport, passed: ratios.filter((x) => x >= r.target.ratio).length, judged: judged.length, ratios };
  });
}

function ringTable(r: Result): string {
  return table(
    ['transport', 'ranks', 'MiB', 'median ms', 'algbw GB/s', 'busbw GB/s', 'grpc p2p GB/s', 'busbw / grpc p2p'].concat([
      'tcp p2p GB/s',
      'busbw / tcp p2p',
      'grpc both ways GB/s',
      'busbw / both ways',
    ]),
    r.ring.map((x) => {
      const bus = busbw(x.n, x);
      const [p2p, tcp, both] = [ref(r.p2p, x.bytes), ref(r.tcpP2p, x.bytes), ref(r.p2pBothWays, x.bytes)];
      const ms = median(x.times);
      return [x.transport, `${x.n}`, `${x.bytes / MiB}`, ms, gbps(x.bytes, ms), bus, p2p, percent(bus / p2p)].concat([
        tcp,
        percent(bus / tcp),
        both,
        percent(bus / both),
      ]);
    }),
  );
}

/** CPU ms per MiB a ring rank sends (and receives as much): 2(n-1)/n of the buffer each way */
const rankCpuPerMiB = (x: Result['ring'][number]) => cpuPerMiB(x.cpuMs, (x.bytes * 2 * (x.n - 1)) / x.n);

/** the transports over TLS, each beside the same path in plaintext */
const TLS_PAIRS = [
  ['tls', 'tcp'],
  ['tls-wire', 'tcp-wire'],
] as const;

/**
 * What TLS costs on the data plane, from one run: per path, ring size and buffer size, the TLS
 * row's busbw and CPU per MiB beside the plaintext row's, and their ratios. Undefined when the
 * run has no TLS row beside its plaintext one.
 */
export function tlsCostTable(json: unknown): string | undefined {
  const r = json as Result;
  const rows = TLS_PAIRS.flatMap(([tls, plain]) =>
    r.ring
      .filter((x) => x.transport === tls)
      .flatMap((x) => {
        const y = r.ring.find((z) => z.transport === plain && z.n === x.n && z.bytes === x.bytes);
        if (!y) return [];
        const [bx, by, cx, cy] = [busbw(x.n, x), busbw(y.n, y), rankCpuPerMiB(x), rankCpuPerMiB(y)];
        return [[`${tls} / ${plain}`, `${x.n}`, `${x.bytes / MiB}`, by, bx, percent(bx / by), num(cy), num(cx), times(cx / cy, 1)]];
      }),
  );
  if (rows.length === 0) return undefined;
  return table(
    [
      'paths',
      'ranks',
      'MiB',
      'busbw plain GB/s',
      'busbw TLS GB/s',
      'TLS / plain busbw',
      'CPU ms/MiB plain',
      'CPU ms/MiB TLS',
      'TLS / plain CPU',
    ],
    rows,
  );
}

/** The run's load, for the setup lines: the machine may be shared. */
export function loadLine(json: unknown): string | undefined {
  const r = json as Result;
  if (!r.load) return undefined;
  const [a, b] = r.load;
  const loaded = Math.max(a, b) > r.machine.cpus;
  return `load average ${a.toFixed(1)} at the start, ${b.toFixed(1)} at the end on ${r.machine.cpus} vCPUs${loaded ? ': the machine was shared with other work, so absolute figures are low and noisy; rows run back to back (per ring size every transport in turn), and their ratios are the figures to read' : ''}`;
}

function cpuTable(r: Result): string {
  const ranks = unique(r.ring.map((x) => x.n));
  const rankCpu = (tr: string, n: number, bytes: number) => {
    const x = r.ring.find((y) => y.transport === tr && y.n === n && y.bytes === bytes);
    return x ? rankCpuPerMiB(x) : Number.NaN;
  };
  return table(
    ['MiB', 'grpc p2p send', 'grpc p2p receive', 'tcp p2p send', 'tcp p2p receive', 'grpc p2p both ways'].concat(
      r.transports.flatMap((tr) => ranks.map((n) => `${tr} ring rank, ${n} ranks`)),
    ),
    r.p2p.map((t, s) => [
      `${t.bytes / MiB}`,
      num(cpuPerMiB(t.cpuMs, t.bytes)),
      num(cpuPerMiB(r.p2pReceiveCpuMs[s] ?? [], t.bytes)),
      num(cpuPerMiB(r.tcpP2p[s]?.cpuMs ?? [], t.bytes)),
      num(cpuPerMiB(r.tcpP2pReceiveCpuMs[s] ?? [], t.bytes)),
      num(cpuPerMiB(r.p2pBothWays[s]?.cpuMs ?? [], t.bytes)),
      ...r.transports.flatMap((tr) => ranks.map((n) => num(rankCpu(tr, n, t.bytes)))),
    ]),
  );
}

export const allreduce: Section = {
  name: 'allreduce',
  summary: 'ring allreduce over the data plane and over gRPC against raw grpc-js and node:net point to point',
  render(json) {
    const r = json as Result;
    const ranks = unique(r.ring.map((x) => x.n));
    const sizes = unique(r.ring.map((x) => x.bytes / MiB));
    const kib = (r.chunkElements * 4) / 1024;
    const chunkFlag = r.tuning.length ? '' : ` --chunk-elements ${r.chunkElements}`;
    const command = `npx nx run bench:allreduce -- --reps ${r.reps} --transport ${r.transports.join(',')} --ranks ${ranks.join(',')} --sizes ${sizes.join(',')}${chunkFlag}`;
    const cores = r.machine.cpus;
    const verdicts = judge(r);
    const pct = `${r.target.ratio * 100}%`;
    const load = loadLine(r);
    const tlsCost = tlsCostTable(r);
    return [
      ...setup(command, r.date, r.machine, [
        `transports: ${r.transports.map((t) => `${t} (${TRANSPORTS[t] ?? 'unknown'})`).join(', ')}`,
        `one process per rank on loopback, all sharing the machine's ${cores} vCPUs; float32 sum; chunks of ${r.chunkElements} elements (${kib} KiB)`,
        `median of ${r.reps} repetitions after a warm-up; a repetition lasts until its slowest rank is done; GB/s = 1e9 bytes/s; algbw = bytes / time, busbw = algbw x 2(n-1)/n`,
        "grpc p2p: raw grpc-js client streams of 1 MiB messages with the Peer service's options, one process sending to another; grpc both ways: two processes sending to each other at once (what each rank of a 2-ring does); tcp p2p: raw node:net, one process writing 1 MiB buffers to another",
        ...(load ? [load] : []),
      ]),
      '',
      ringTable(r),
      '',
      `CPU milliseconds per MiB a process sends (median, all threads; where it also receives as much, that is included). A ring rank sends and receives 2(n-1)/n of the buffer and adds; with ${cores} vCPUs for n ranks, a rank that needs x ms per MiB cannot exceed ${cores}/(n x) MiB/ms of busbw.`,
      '',
      cpuTable(r),
      '',
      ...(tlsCost
        ? ['What mutual TLS costs: each TLS row beside the same ring in plaintext (CPU per MiB a ring rank sends):', '', tlsCost, '']
        : []),
      ...(r.tuning.length
        ? [
            `Chunk size, 3 ranks over ${r.transports[0]} (chosen: ${kib} KiB):`,
            '',
            table(
              ['chunk KiB', 'MiB', 'median ms', 'busbw GB/s'],
              r.tuning.map((t) => [String(t[0]), t[1], t[2], t[3]]),
            ),
            '',
          ]
        : []),
      `Target: busbw >= ${pct} of ${r.target.reference} at ${r.target.fromMiB} MiB and above.`,
      '',
      ...verdicts.map(
        (v) =>
          `- ${v.transport}: ${verdict(v.passed, v.judged)}; busbw / ${r.target.reference} ${percent(Math.min(...v.ratios))}-${percent(Math.max(...v.ratios))}`,
      ),
    ];
  },
  headline(json) {
    const r = json as Result;
    const v = judge(r);
    const range = (x: (typeof v)[number]) => `${percent(Math.min(...x.ratios))}-${percent(Math.max(...x.ratios))}`;
    return {
      figure: `ring busbw vs grpc-js point to point, ${r.target.fromMiB} MiB and up: ${v.map((x) => `${x.transport} ${range(x)}`).join(', ')}`,
      target: `>= ${r.target.ratio * 100}%`,
      verdict: v.map((x) => `${x.transport} ${x.passed === x.judged ? 'met' : 'not met'}`).join(', '),
    };
  },
};

/**
 * Benchmark: ring allreduce over the data plane (tcp: values through shared memory between ranks
 * of one host, as in production on one machine; tcp-wire: shared memory off, values over TCP, the
 * path between hosts; tls and tls-wire: the same over mutual TLS, as jobs run by default) and over
 * the gRPC Peer service, next to what node:net and grpc-js move point to point.
 *
 *   ring  n worker processes on loopback (n = 2, 3, 4), each one rank with its own DataServer
 *         (--transport tcp, tcp-wire) or PeerServer (grpc), sum a float32 buffer of 1, 4, 16 and 64 MiB. After a JIT warm-up (20 allreduces of
 *         1 MiB), each size gets one warm-up and --reps timed repetitions, each after a barrier
 *         (a one-element allreduce). A repetition lasts until its slowest rank is done; the
 *         table shows the median. algbw = bytes / time,
 *         busbw = algbw * 2(n-1)/n, the per-link rate a ring achieves (nccl-tests' convention).
 *   p2p   raw grpc-js, the same number of bytes (support/raw-grpc.ts): one process sending to another
 *         (the reference for the target), and two processes sending to each other at once (what
 *         each rank of a 2-ring does, the most a ring's transport could reach here); median of
 *         --reps. Raw node:net, one process sending to another (support/raw-tcp.ts): the TCP reference.
 *
 * The ranks learn each other's addresses through the parent: each child prints its bound
 * address, the parent sends every child the full list on stdin, the children print their
 * timings as one JSON line. The chunk size is tuned first on 3 ranks at 16 and 64 MiB over the
 * first transport listed (skip with --chunk-elements). Target: at 16 MiB and above, busbw >= 60%
 * of (grpc-js) p2p.
 *
 * Run: npx nx run bench:allreduce -- [--transport tcp,tcp-wire,tls,tls-wire,grpc] [--reps 5]
 *      [--sizes 1,4,16,64] [--ranks 2,3,4] [--chunk-elements N] [--results allreduce]
 * (--results NAME writes test/bench/results/NAME.json: a partial run need not replace the full one)
 * (children are this script with --role rank | p2p-recv | p2p-send | both-ways | tcp-recv | tcp-send)
 */
import { type ChildProcess, type ChildProcessByStdio, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { ringAllreduce, type Transport } from '@permafrost/collective';
import { type EphemeralCertificates, ephemeralCertificates, identityOfPem } from '@permafrost/security';
import { startPeerServer } from '@permafrost/transport-grpc';
import { sharedMemoryUnavailable, startDataServer, type TcpTransport } from '@permafrost/transport-tcp';
import { arg, machine, median, writeResults } from './support/bench-util';
import { bothWaysRole, measured, p2pRecvRole, p2pSendRole, type RoleContext, type Round } from './support/raw-grpc';
import { tcpRecvRole, tcpSendRole } from './support/raw-tcp';

const MiB = 1024 * 1024;
const REPS = Math.max(5, Number(arg('reps', '5')));
const SIZES_MIB = arg('sizes', '1,4,16,64').split(',').map(Number);
const RANKS = arg('ranks', '2,3,4').split(',').map(Number);
const KINDS = ['tcp', 'tcp-wire', 'tls', 'tls-wire', 'grpc'] as const;
const TRANSPORTS = arg('transport', KINDS.join(',')).split(',') as (typeof KINDS)[number][];
for (const t of TRANSPORTS) if (!KINDS.includes(t)) throw new Error(`--transport: ${KINDS.join(', ')}, not '${t}'`);
const CHUNK_CANDIDATES = [64 * 1024, 256 * 1024, 1024 * 1024];
const TARGET = 0.6;
const TARGET_FROM_MIB = 16;
/** a child that has not finished by then is hung: kill it and fail the run */
const CHILD_TIMEOUT_MS = 20 * 60_000;
/** allreduces of WARMUP_ELEMENTS every rank runs before timing anything */
const WARMUP_ROUNDS = 20;
const WARMUP_ELEMENTS = 256 * 1024;

interface Timings {
  bytes: number;
  /** milliseconds, one per timed repetition */
  times: number[];
  /** CPU milliseconds of the process, one per timed repetition */
  cpuMs: number[];
}

const emit = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);
const gbps = (bytes: number, ms: number) => bytes / (ms / 1000) / 1e9;
const kib = (elements: number) => (elements * 4) / 1024;

// ---------- children ----------

/** Per size: one untimed round, then REPS timed ones. */
async function timeSizes(sizesMiB: number[], round: (bytes: number) => Promise<Round>): Promise<Timings[]> {
  const out: Timings[] = [];
  for (const mib of sizesMiB) {
    const t: Timings = { bytes: mib * MiB, times: [], cpuMs: [] };
    for (let i = 0; i <= REPS; i++) {
      const r = await round(mib * MiB);
      if (i > 0) t.times.push(r.ms);
      if (i > 0) t.cpuMs.push(r.cpuMs);
    }
    out.push(t);
  }
  return out;
}

/** This rank's server of the chosen transport; transport() once every address is known. */
async function rankServer(
  rank: number,
  n: number,
  kind: string,
): Promise<{ address: string; transport(addresses: string[]): Transport; check(): void; close(): Promise<void> }> {
  if (kind === 'grpc') {
    const peer = await startPeerServer({ listen: '127.0.0.1:0' });
    const check = () => undefined;
    return { address: peer.address, transport: (addresses) => peer.transport(rank, n, addresses, 1n), check, close: () => peer.close() };
  }
  const wire = kind.endsWith('-wire');
  const tls = kind.startsWith('tls') ? { ca: arg('tls-ca', ''), cert: arg('tls-cert', ''), key: arg('tls-key', '') } : undefined;
  const data = await startDataServer({ listen: '127.0.0.1:0', tls, ...(wire ? { sharedMemoryBytes: 0 } : {}) });
  const ids = Array.from({ length: n }, (_, r) => `rank-${r}`);
  let t: TcpTransport | undefined;
  return {
    address: data.address,
    transport: (addresses) => {
      // every rank holds the same certificate here: each is known by its name
      const name = tls ? (identityOfPem(readFileSync(tls.cert))?.name ?? '') : '';
      t = data.transport(
        rank,
        n,
        addresses,
        ids,
        1n,
        ids.map(() => name),
      );
      return t;
    },
    // the path measured is the path named: tcp shares memory between these same-host ranks, tcp-wire never
    check: () => {
      const shared = t?.stats.sharedChunks ?? 0;
      if (wire ? shared > 0 : shared === 0) {
        throw new Error(
          `rank ${rank} over ${kind} sent ${shared} chunks through shared memory (${sharedMemoryUnavailable() ?? 'available'})`,
        );
      }
    },
    close: () => data.close(),
  };
}

async function rankRole(): Promise<void> {
  const rank = Number(arg('rank', '0'));
  const n = Number(arg('n', '2'));
  const peer = await rankServer(rank, n, arg('transport', 'tcp'));
  emit({ address: peer.address });
  const [line] = (await once(createInterface({ input: process.stdin }), 'line')) as [string];
  const plan = JSON.parse(line) as { addresses: string[]; sizesMiB: number[]; chunkElements: number };
  const t = peer.transport(plan.addresses);
  let sequence = 0;
  const allreduce = (b: Float32Array) =>
    ringAllreduce(b, t, { sequence: ++sequence, signature: 'bench', chunkElements: plan.chunkElements, timeoutMs: 120_000 });
  const want = (n * (n + 1)) / 2;
  // Steady state is what a training job sees: the JIT warms up on the whole path (encoding,
  // the transport, reduction) before anything is timed, then every size gets its own warm-up round.
  for (let i = 0; i < WARMUP_ROUNDS; i++) await allreduce(new Float32Array(WARMUP_ELEMENTS));
  let buffer = new Float32Array(0);
  const results = await timeSizes(plan.sizesMiB, async (bytes) => {
    if (buffer.byteLength !== bytes) buffer = new Float32Array(bytes / 4);
    buffer.fill(rank + 1);
    await allreduce(new Float32Array(1));
    const r = await measured(() => allreduce(buffer));
    const wrong = buffer.findIndex((v) => v !== want);
    if (wrong >= 0) throw new Error(`rank ${rank}: element ${wrong} is ${buffer[wrong]}, expected ${want}`);
    return r;
  });
  // a last barrier, so that no rank closes its server while a neighbour still needs it
  await allreduce(new Float32Array(1));
  peer.check();
  emit({ rank, results });
  await peer.close();
}

const roleContext: RoleContext = {
  emit,
  timeSizes: (round) => timeSizes(SIZES_MIB, round),
  warmupRounds: WARMUP_ROUNDS,
};

// ---------- parent ----------

const children = new Set<ChildProcess>();
/** the certificates of the tls rows' ranks (one job CA, made once per run) */
let certs: EphemeralCertificates | undefined;
const tlsArgs = (transport: string) => {
  const f = transport.startsWith('tls') ? certs?.worker(0) : undefined;
  return f ? ['--tls-ca', f.ca, '--tls-cert', f.cert, '--tls-key', f.key] : [];
};

/** This script in a child process with `role`; next() is its next JSON line on stdout. */
function child(role: string, args: string[]): { proc: ChildProcessByStdio<Writable, Readable, null>; next<T>(): Promise<T> } {
  const argv = ['--import', 'tsx', import.meta.filename, '--role', role, '--reps', String(REPS), '--sizes', SIZES_MIB.join(','), ...args];
  const proc = spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(proc);
  const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  proc.on('exit', () => {
    clearTimeout(timer);
    children.delete(proc);
  });
  // readline's iterator buffers lines from the start, so none is lost between two next() calls
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const next = async <T>(): Promise<T> => {
    const l = await lines.next();
    if (l.done) throw new Error(`the ${role} child exited without answering`);
    return JSON.parse(l.value) as T;
  };
  return { proc, next };
}

/** One ring of n rank processes over `sizesMiB`; per size, the slowest rank's time of each repetition. */
async function ring(transport: string, n: number, sizesMiB: number[], chunkElements: number): Promise<Timings[]> {
  const ranks = Array.from({ length: n }, (_, r) =>
    child('rank', ['--rank', String(r), '--n', String(n), '--transport', transport, ...tlsArgs(transport)]),
  );
  const addresses = await Promise.all(ranks.map(async (c) => (await c.next<{ address: string }>()).address));
  for (const c of ranks) c.proc.stdin.end(`${JSON.stringify({ addresses, sizesMiB, chunkElements })}\n`);
  const all = await Promise.all(ranks.map((c) => c.next<{ results: Timings[] }>()));
  return latest(all.map((a) => a.results));
}

/**
 * One process sending to another over raw grpc-js (`p2p`) or node:net (`tcp`): the sender's
 * timings, and per size the receiver's CPU of each repetition.
 */
async function p2p(kind: 'p2p' | 'tcp'): Promise<{ send: Timings[]; receiveCpuMs: number[][] }> {
  const recv = child(`${kind}-recv`, []);
  const { address } = await recv.next<{ address: string }>();
  const { results } = await child(`${kind}-send`, ['--address', address]).next<{ results: Timings[] }>();
  recv.proc.stdin.end();
  // the receiver saw the warm-up uploads, then per size an untimed one and REPS timed ones
  const { cpuMs } = await recv.next<{ cpuMs: number[] }>();
  const receiveCpuMs = results.map((_, s) => cpuMs.slice(WARMUP_ROUNDS + s * (REPS + 1) + 1, WARMUP_ROUNDS + (s + 1) * (REPS + 1)));
  return { send: results, receiveCpuMs };
}

/** Two processes sending to each other; per size, the later of the two of each repetition. */
async function bothWays(): Promise<Timings[]> {
  const pair = [child('both-ways', []), child('both-ways', [])] as const;
  const [a, b] = await Promise.all(pair.map(async (c) => (await c.next<{ address: string }>()).address));
  pair[0].proc.stdin.write(`${JSON.stringify(b)}\n`);
  pair[1].proc.stdin.write(`${JSON.stringify(a)}\n`);
  const all = await Promise.all(pair.map((c) => c.next<{ results: Timings[] }>()));
  for (const c of pair) c.proc.stdin.end();
  return latest(all.map((x) => x.results));
}

/** Per size, each repetition's latest time and mean CPU over the processes that took part. */
function latest(per: Timings[][]): Timings[] {
  const over = (s: number, i: number, k: 'times' | 'cpuMs') => per.map((p) => (p[s] as Timings)[k][i] as number);
  return (per[0] as Timings[]).map((first, s) => ({
    bytes: first.bytes,
    times: first.times.map((_, i) => Math.max(...over(s, i, 'times'))),
    cpuMs: first.cpuMs.map((_, i) => over(s, i, 'cpuMs').reduce((a, b) => a + b, 0) / per.length),
  }));
}

/** CPU milliseconds per MiB a process sent (and as much received, where it does both). */
const cpuPerMiB = (cpuMs: number[], bytes: number) => median(cpuMs) / (bytes / MiB);

const busbw = (n: number, t: Timings) => (gbps(t.bytes, median(t.times)) * 2 * (n - 1)) / n;
const log = (s: string) => process.stderr.write(`${s}\n`);

/** The chunk size with the best total busbw on 3 ranks at the target sizes (first transport), and what was measured. */
async function tune(): Promise<{ chunkElements: number; rows: (string | number)[][] }> {
  const transport = TRANSPORTS[0] as string;
  const sizes = SIZES_MIB.filter((m) => m >= TARGET_FROM_MIB);
  const rows: (string | number)[][] = [];
  let best = { score: -1, chunkElements: CHUNK_CANDIDATES[0] as number };
  for (const c of CHUNK_CANDIDATES) {
    log(`tuning: 3 ranks over ${transport}, chunks of ${kib(c)} KiB...`);
    const r = await ring(transport, 3, sizes, c);
    for (const t of r) rows.push([kib(c), String(t.bytes / MiB), median(t.times), busbw(3, t)]);
    const score = r.reduce((a, t) => a + busbw(3, t), 0);
    if (score > best.score) best = { score, chunkElements: c };
  }
  return { chunkElements: best.chunkElements, rows };
}

type Row = Timings & { transport: string } & Record<
    'n' | 'medianMs' | 'algbw' | 'busbw' | 'p2p' | 'tcpP2p' | 'p2pBothWays' | 'rankCpu',
    number
  >;

/** Per transport: met / not met at the target sizes, against grpc-js p2p. */
function verdicts(rows: Row[]): { transport: string; verdict: string; passed: number; judged: number }[] {
  return TRANSPORTS.map((transport) => {
    const judged = rows.filter((r) => r.transport === transport && r.bytes >= TARGET_FROM_MIB * MiB);
    const passed = judged.filter((r) => r.busbw >= TARGET * r.p2p).length;
    const verdict = judged.length === 0 ? 'not measured' : passed === judged.length ? 'met' : 'not met';
    return { transport, verdict, passed, judged: judged.length };
  });
}

async function main(): Promise<void> {
  if (TRANSPORTS.some((t) => t.startsWith('tls'))) certs = await ephemeralCertificates(1, 'allreduce benchmark');
  try {
    await measureAll();
  } finally {
    await certs?.remove();
  }
}

async function measureAll(): Promise<void> {
  // the machine is shared: the load average goes into the result, and the report shows it
  const loadAtStart = loadavg()[0] as number;
  const fixed = Number(arg('chunk-elements', '0'));
  const tuning = fixed ? { chunkElements: fixed, rows: [] } : await tune();
  const { chunkElements } = tuning;
  log('p2p...');
  const { send: oneWay, receiveCpuMs } = await p2p('p2p');
  log('p2p both ways...');
  const twoWay = await bothWays();
  log('tcp p2p...');
  const { send: tcpOneWay, receiveCpuMs: tcpReceiveCpuMs } = await p2p('tcp');
  const rows: Row[] = [];
  // per ring size every transport in turn, so that the rows compared (tls beside tcp) run close in time
  for (const n of RANKS) {
    for (const transport of TRANSPORTS) {
      log(`ring of ${n} over ${transport}, chunks of ${kib(chunkElements)} KiB...`);
      const r = await ring(transport, n, SIZES_MIB, chunkElements);
      for (const [i, t] of r.entries()) {
        const ms = median(t.times);
        const ref = (x: Timings[]) => gbps(t.bytes, median((x[i] as Timings).times));
        // a rank sends (and receives) 2(n-1)/n of the buffer
        const rankCpu = cpuPerMiB(t.cpuMs, (t.bytes * 2 * (n - 1)) / n);
        rows.push({
          transport,
          n,
          ...t,
          medianMs: ms,
          algbw: gbps(t.bytes, ms),
          busbw: busbw(n, t),
          p2p: ref(oneWay),
          tcpP2p: ref(tcpOneWay),
          p2pBothWays: ref(twoWay),
          rankCpu,
        });
      }
    }
  }
  const judged = verdicts(rows);
  const target = { ratio: TARGET, fromMiB: TARGET_FROM_MIB, reference: 'grpc p2p', verdicts: judged };
  const json = {
    date: new Date().toISOString(),
    machine: machine(),
    /** the 1-minute load average at the start and at the end of the run */
    load: [loadAtStart, loadavg()[0] as number],
    reps: REPS,
    chunkElements,
    transports: TRANSPORTS,
    target,
    p2p: oneWay,
    p2pReceiveCpuMs: receiveCpuMs,
    p2pBothWays: twoWay,
    tcpP2p: tcpOneWay,
    tcpP2pReceiveCpuMs: tcpReceiveCpuMs,
  };
  writeResults(arg('results', 'allreduce'), { ...json, ring: rows, tuning: tuning.rows });
}

const role = arg('role', 'parent');
try {
  if (role === 'rank') await rankRole();
  else if (role === 'p2p-recv') await p2pRecvRole(roleContext);
  else if (role === 'p2p-send') await p2pSendRole(roleContext, arg('address', ''));
  else if (role === 'both-ways') await bothWaysRole(roleContext);
  else if (role === 'tcp-recv') await tcpRecvRole(roleContext);
  else if (role === 'tcp-send') await tcpSendRole(roleContext, arg('address', ''));
  else await main();
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  for (const c of children) c.kill('SIGKILL');
}
// grpc-js keeps idle channels' timers; a child is done once it has answered
if (role !== 'parent') process.exit(process.exitCode ?? 0);

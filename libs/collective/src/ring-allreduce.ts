/**
 * Ring allreduce (sum), as Baidu's and Horovod's: n ranks in a ring, the buffer cut into n
 * segments.
 *
 *   reduce-scatter, steps k = 0 .. n-2: rank r sends segment (r - k) mod n to rank r+1 and adds
 *     the segment (r - k - 1) mod n that rank r-1 sends it. Afterwards rank r holds the full sum
 *     of segment (r + 1) mod n.
 *   all-gather, steps k = 0 .. n-2: rank r sends segment (r + 1 - k) mod n (fully reduced) and
 *     stores the segment (r - k) mod n it receives.
 *
 * Each rank sends 2(n-1)/n of the buffer in total, whatever n is, which is why bus bandwidth
 * (algbw * 2(n-1)/n) is the figure of merit. Segments travel in chunks of `chunkElements`, and a
 * step's chunks are pipelined: a chunk is forwarded as soon as it is reduced, so sending, the
 * network and adding overlap. Every chunk carries the collective's sequence number and the tensor
 * set's signature; a mismatch is a CollectiveError naming both ranks' views, never a hang, and
 * every wait has a deadline.
 */
import { type Chunk, CollectiveError, type Transport } from './transport';
import { addInto } from './vector-add';

export interface AllreduceOptions {
  sequence: number;
  /** hash of the tensors in the buffer (names, shapes, order) */
  signature: string;
  /** elements per chunk (default 256 Ki elements = 1 MiB) */
  chunkElements?: number;
  /** deadline for every receive and for the whole send (default 30000 ms) */
  timeoutMs?: number;
}

interface Segment {
  start: number;
  length: number;
}

export function segments(total: number, n: number): Segment[] {
  const base = Math.floor(total / n);
  const extra = total % n;
  const out: Segment[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const length = base + (i < extra ? 1 : 0);
    out.push({ start, length });
    start += length;
  }
  return out;
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * The check every received chunk passes: the sender reduces the same tensor set (signature and
 * size) and is at the same point of the same collective; anything else is a CollectiveError
 * naming both ranks' views.
 */
export function chunkCheck(buffer: Float32Array, rank: number, from: number, opts: AllreduceOptions) {
  return (c: Chunk, step: number, segment: number, offset: number): void => {
    if (c.signature !== opts.signature || c.totalElements !== buffer.length) {
      throw new CollectiveError(
        `rank ${from} reduces a different tensor set than rank ${rank} (signature ${c.signature.slice(0, 12)}/${c.totalElements} elements vs ${opts.signature.slice(0, 12)}/${buffer.length})`,
      );
    }
    if (c.sequence !== opts.sequence || c.step !== step || c.segment !== segment || c.offset !== offset) {
      throw new CollectiveError(
        `rank ${from} is out of step with rank ${rank}: got collective ${c.sequence} step ${c.step} segment ${c.segment}+${c.offset}, expected ${opts.sequence} step ${step} segment ${segment}+${offset}`,
      );
    }
  };
}

/** Sums `buffer` across all ranks of `t`, in place. */
export async function ringAllreduce(buffer: Float32Array, t: Transport, opts: AllreduceOptions): Promise<void> {
  const n = t.size;
  if (n === 1) return;
  const chunk = opts.chunkElements ?? 256 * 1024;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const segs = segments(buffer.length, n);
  const right = mod(t.rank + 1, n);
  const left = mod(t.rank - 1, n);
  const send = t.openSend(right, opts.sequence, timeoutMs);

  const check = chunkCheck(buffer, t.rank, left, opts);

  const chunksOf = (s: Segment) => {
    const out: { offset: number; length: number }[] = [];
    for (let o = 0; o < s.length || (o === 0 && s.length === 0); o += chunk) out.push({ offset: o, length: Math.min(chunk, s.length - o) });
    return out;
  };

  const out = (step: number, segment: number, offset: number, data: Float32Array): Chunk => ({
    sequence: opts.sequence,
    signature: opts.signature,
    step,
    segment,
    offset,
    totalElements: buffer.length,
    data,
  });

  try {
    // The first step's chunks go out at once; every later chunk is forwarded right after the
    // chunk it depends on has arrived and been reduced (or stored). Chunks are views into
    // `buffer`: the transport copies what it needs, and the region a chunk covers is not written
    // again before the next rank has it (whatever overwrites it depends on that chunk).
    const first = mod(t.rank, n);
    const s0 = segs[first] as Segment;
    for (const c of chunksOf(s0)) {
      send.write(out(0, first, c.offset, buffer.subarray(s0.start + c.offset, s0.start + c.offset + c.length)));
    }
    const steps = 2 * (n - 1);
    for (let step = 0; step < steps; step++) {
      const reduce = step < n - 1;
      const k = reduce ? step : step - (n - 1);
      const segIn = reduce ? mod(t.rank - k - 1, n) : mod(t.rank - k, n);
      const s = segs[segIn] as Segment;
      for (const c of chunksOf(s)) {
        const got = await t.recv(left, opts.sequence, timeoutMs);
        check(got, step, segIn, c.offset);
        if (got.data.length !== c.length) throw new CollectiveError(`rank ${left} sent ${got.data.length} elements, expected ${c.length}`);
        const at = s.start + c.offset;
        const region = buffer.subarray(at, at + c.length);
        if (reduce) addInto(region, got.data);
        else region.set(got.data);
        got.release?.();
        // What arrives at step `step` is exactly what this rank forwards at step `step + 1`,
        // except the last all-gather step (nothing left to forward).
        if (step + 1 < steps) send.write(out(step + 1, segIn, c.offset, region));
      }
    }
    // Every chunk this rank needed has arrived, so the result is final once the transport no
    // longer needs `buffer`. Nothing waits for the receiver to acknowledge: a delivery that fails
    // after this point surfaces on the receiving rank, whose receives then fail.
    await send.flush();
  } catch (e) {
    send.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}

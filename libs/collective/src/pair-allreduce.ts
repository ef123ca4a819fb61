/**
 * Allreduce (sum) of exactly two ranks by one exchange: each rank sends its whole buffer to the
 * other and adds what arrives, chunk by chunk.
 *
 * A ring of two does the same work in two dependent hops: reduce-scatter (each rank sends half,
 * adds the other half) and then all-gather (each sends back the half it summed). Each hop waits
 * for the other process to be scheduled, read, add and send; for a buffer of a few hundred KiB
 * (a gradient) those waits, not the bytes, are what an allreduce costs, and this takes one hop
 * instead of two. The bytes each rank sends are the same, S. Two floats sum to the same value in
 * either order, so both ranks end with bit-identical sums, the ones the ring computes. Chunks
 * carry step 0 and segment 0 with their offset; the checks, deadlines and failure handling are
 * the ring's (ring-allreduce.ts).
 */
import { type AllreduceOptions, chunkCheck } from './ring-allreduce';
import { CollectiveError, type Transport } from './transport';
import { addInto } from './vector-add';

/**
 * Per transport, the copy of the buffer a rank sends while it adds into the buffer itself, kept
 * for the next collective: a training step reduces a same-sized gradient every time, and a fresh
 * copy per step (hundreds of KiB of ArrayBuffer) made V8 collect on external-memory pressure
 * every few steps. The previous collective has flushed before this one starts, so the transport
 * no longer reads it.
 */
const sendCopies = new WeakMap<Transport, Float32Array>();

function sendCopy(t: Transport, buffer: Float32Array): Float32Array {
  let copy = sendCopies.get(t);
  if (copy?.length !== buffer.length) {
    copy = new Float32Array(buffer.length);
    sendCopies.set(t, copy);
  }
  copy.set(buffer);
  return copy;
}

/** Sums `buffer` across the two ranks of `t`, in place. */
export async function pairAllreduce(buffer: Float32Array, t: Transport, opts: AllreduceOptions): Promise<void> {
  if (t.size !== 2) throw new CollectiveError(`a pair allreduce needs 2 ranks, not ${t.size}`);
  const chunk = opts.chunkElements ?? 256 * 1024;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const other = 1 - t.rank;
  const check = chunkCheck(buffer, t.rank, other, opts);
  // the transport may read what it sends until flush(), and this rank adds into `buffer` before
  const mine = sendCopy(t, buffer);
  const send = t.openSend(other, opts.sequence, timeoutMs);
  const offsets: number[] = [];
  for (let o = 0; o < buffer.length || (o === 0 && buffer.length === 0); o += chunk) offsets.push(o);
  const out = (offset: number) => ({
    sequence: opts.sequence,
    signature: opts.signature,
    step: 0,
    segment: 0,
    offset,
    totalElements: buffer.length,
    data: mine.subarray(offset, offset + chunk),
  });
  try {
    for (const o of offsets) send.write(out(o));
    for (const o of offsets) {
      const got = await t.recv(other, opts.sequence, timeoutMs);
      check(got, 0, 0, o);
      const length = Math.min(chunk, buffer.length - o);
      if (got.data.length !== length) throw new CollectiveError(`rank ${other} sent ${got.data.length} elements, expected ${length}`);
      addInto(buffer.subarray(o, o + length), got.data);
      got.release?.();
    }
    await send.flush();
  } catch (e) {
    // an aborted send may still be reading it: the next collective gets a copy of its own
    sendCopies.delete(t);
    send.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}

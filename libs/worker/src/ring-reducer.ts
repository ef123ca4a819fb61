/**
 * The gradient reducer of a distributed worker: every call is one allreduce over the job's
 * transport (the TCP data plane, or the gRPC Peer service), numbered by a sequence that advances
 * identically on every rank (all ranks reduce the same buffers in the same order). The signature
 * names the tensor set, so a rank that would reduce different tensors fails the collective with a
 * clear error instead of hanging. Every receive waits at most `timeoutMs`
 * (cluster.collectiveTimeoutMs); a broken connection fails it at once.
 *
 * The algorithm is the ring, except for two ranks and a buffer of up to PAIR_MAX_ELEMENTS (a
 * gradient, not a checkpoint): then one exchange (pair-allreduce.ts) replaces the ring's two
 * dependent hops, which is what such a buffer's allreduce mostly waits for. Both produce the same
 * sums, and the choice depends only on the world size and the buffer's length, which every rank
 * agrees on (the signature check fails the collective otherwise).
 *
 * One reducer serves one membership generation. halt() fails the collective in flight and every
 * later one at once (the coordinator is forming the next generation); the collective abandoned
 * that way ends when the next generation's transport retires this one's.
 */
import { CollectiveError, pairAllreduce, ringAllreduce, type Transport } from '@permafrost/collective';
import type { GradientReducer } from '@permafrost/trainer';

/** the largest buffer two ranks sum by one exchange, elements (4 MiB) */
const PAIR_MAX_ELEMENTS = 1024 * 1024;

export class RingReducer implements GradientReducer {
  private sequence = 0;
  private halted: CollectiveError | undefined;
  private readonly haltWaiters = new Set<(e: Error) => void>();

  constructor(
    private readonly transport: Transport,
    private readonly timeoutMs: number,
    private readonly chunkElements?: number,
  ) {}

  get worldSize(): number {
    return this.transport.size;
  }

  /** Fails the collective in flight and every later one, with `reason`. */
  halt(reason: string): void {
    if (this.halted) return;
    this.halted = new CollectiveError(`halted: ${reason}`);
    for (const w of this.haltWaiters) w(this.halted);
    this.haltWaiters.clear();
  }

  async allreduce(buffer: Float32Array, signature: string): Promise<void> {
    if (this.halted) throw this.halted;
    this.sequence++;
    const pair = this.transport.size === 2 && buffer.length <= PAIR_MAX_ELEMENTS;
    const work = (pair ? pairAllreduce : ringAllreduce)(buffer, this.transport, {
      sequence: this.sequence,
      signature,
      timeoutMs: this.timeoutMs,
      chunkElements: this.chunkElements,
    });
    let stop: ((e: Error) => void) | undefined;
    const halted = new Promise<never>((_, fail) => {
      stop = fail;
      this.haltWaiters.add(fail);
    });
    // a halted collective is abandoned: its own failure (when its transport retires) is no news
    work.catch(() => undefined);
    try {
      await Promise.race([work, halted]);
    } finally {
      if (stop) this.haltWaiters.delete(stop);
    }
  }
}

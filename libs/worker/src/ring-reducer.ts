/**
 * The gradient reducer of a distributed worker: every call is one allreduce over the job's
 * transport (the TCP data plane, or the gRPC Peer service), numbered by a sequence that advances
 * identically on every rank (all ranks reduce the same buffers in the same order). The signature
 * names the tensor set, so a rank that would reduce different tensors fails the collective with a
 * clear error instead of hanging.
 *
 * The algorithm is the ring, except for two ranks and a buffer of up to PAIR_MAX_ELEMENTS (a
 * gradient, not a checkpoint): then one exchange (pair-allreduce.ts) replaces the ring's two
 * dependent hops, which is what such a buffer's allreduce mostly waits for. Both produce the same
 * sums, and the choice depends only on the world size and the buffer's length, which every rank
 * agrees on (the signature check fails the collective otherwise).
 */
import { pairAllreduce, ringAllreduce, type Transport } from '@permafrost/collective';
import type { GradientReducer } from '@permafrost/trainer';

/** the largest buffer two ranks sum by one exchange, elements (4 MiB) */
const PAIR_MAX_ELEMENTS = 1024 * 1024;

export class RingReducer implements GradientReducer {
  private sequence = 0;

  constructor(
    private readonly transport: Transport,
    private readonly timeoutMs: number,
    private readonly chunkElements?: number,
  ) {}

  get worldSize(): number {
    return this.transport.size;
  }

  async allreduce(buffer: Float32Array, signature: string): Promise<void> {
    this.sequence++;
    const pair = this.transport.size === 2 && buffer.length <= PAIR_MAX_ELEMENTS;
    await (pair ? pairAllreduce : ringAllreduce)(buffer, this.transport, {
      sequence: this.sequence,
      signature,
      timeoutMs: this.timeoutMs,
      chunkElements: this.chunkElements,
    });
  }
}

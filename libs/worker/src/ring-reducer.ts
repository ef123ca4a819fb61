/**
 * The gradient reducer of a distributed worker: every call is one ring allreduce over the Peer
 * service, numbered by a sequence that advances identically on every rank (all ranks reduce the
 * same buffers in the same order). The signature names the tensor set, so a rank that would
 * reduce different tensors fails the collective with a clear error instead of hanging.
 */
import { ringAllreduce, type Transport } from '@permafrost/collective';
import type { GradientReducer } from '@permafrost/trainer';

export class RingReducer implements GradientReducer {
  private sequence = 0;

  constructor(
    private readonly transport: Transport,
    private readonly timeoutMs: number,
    private readonly chunkElements?: number,
  ) {}

  async allreduce(buffer: Float32Array, signature: string): Promise<void> {
    this.sequence++;
    await ringAllreduce(buffer, this.transport, {
      sequence: this.sequence,
      signature,
      timeoutMs: this.timeoutMs,
      chunkElements: this.chunkElements,
    });
  }
}

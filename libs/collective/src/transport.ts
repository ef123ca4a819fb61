/**
 * What a collective needs from the network: ordered, reliable delivery of chunks from one rank to
 * another. A ring only ever sends to its right neighbour and receives from its left one, so a
 * transport may keep one stream per neighbour and carry collective after collective on it.
 * libs/transport-tcp implements this over raw TCP (and shared memory between ranks of one host),
 * libs/transport-grpc over the gRPC Peer service; MemoryTransport (tests) over in-process queues.
 */
import { type ErrorCode, PermafrostError } from '@permafrost/telemetry';

export interface Chunk {
  /** collective sequence number: equal on every rank for the same allreduce */
  sequence: number;
  /** hash of the tensor set being reduced; ranks must agree */
  signature: string;
  /** step of the collective: 0..n-2 reduce-scatter, n-1..2n-3 all-gather */
  step: number;
  segment: number;
  /** element offset inside the segment */
  offset: number;
  totalElements: number;
  data: Float32Array;
  /**
   * Set when `data` is lent by the transport (a shared segment's pages, or a receive array it
   * reuses): the consumer calls it once, as soon as it no longer reads `data`, and must not read
   * `data` after. Consumers call it whenever it is set.
   */
  release?: () => void;
}

/** Chunks this rank has sent: through memory shared with the receiver, or over the network. */
export interface TransportStats {
  sharedChunks: number;
  wireChunks: number;
}

export interface Transport {
  readonly rank: number;
  readonly size: number;
  /** what went where so far (a worker logs it at the end: which path its gradients took) */
  readonly stats: TransportStats;
  /**
   * The sending side of one collective to rank `to`: chunks written to it arrive at `to` in order.
   * A transport may carry many collectives on one stream per neighbour.
   */
  openSend(to: number, sequence: number, timeoutMs: number): SendChannel;
  /** The next chunk from rank `from` for collective `sequence`; rejects after `timeoutMs`. */
  recv(from: number, sequence: number, timeoutMs: number): Promise<Chunk>;
}

export interface SendChannel {
  /**
   * Queues a chunk, without waiting. The transport may read `chunk.data` until flush() has
   * settled, so the caller leaves those elements alone until then. A failure surfaces in flush().
   */
  write(chunk: Chunk): void;
  /**
   * Resolves once every chunk written has been handed to the network (the receiver's flow
   * control paces a fast sender here); rejects with the channel's failure, or once the
   * collective's `timeoutMs` since openSend have passed.
   */
  flush(): Promise<void>;
  /** aborts the channel after a local failure */
  abort(reason: Error): void;
}

/** A collective that cannot complete on this rank (a peer failed, refused or timed out). */
export class CollectiveError extends PermafrostError {
  override readonly name: string = 'CollectiveError';
  constructor(message: string, code: ErrorCode = 'aborted') {
    super(code, message);
  }
}

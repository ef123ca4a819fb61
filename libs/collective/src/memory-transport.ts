/**
 * In-process transport: one FIFO mailbox per (receiver, sender, collective). For tests of the
 * algorithms and for single-process simulations; chunks are copied so no rank can see another's
 * memory.
 */
import { type Chunk, CollectiveError, type SendChannel, type Transport, type TransportStats } from './transport';

class Mailbox {
  private readonly queue: Chunk[] = [];
  private waiter: ((c: Chunk) => void) | undefined;
  push(c: Chunk): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(c);
    } else this.queue.push(c);
  }
  take(timeoutMs: number, what: string): Promise<Chunk> {
    const c = this.queue.shift();
    if (c) return Promise.resolve(c);
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        fail(new CollectiveError(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiter = (x) => {
        clearTimeout(timer);
        ok(x);
      };
    });
  }
}

export class MemoryHub {
  private readonly boxes = new Map<string, Mailbox>();
  box(to: number, from: number, sequence: number): Mailbox {
    const k = `${to}/${from}/${sequence}`;
    let b = this.boxes.get(k);
    if (!b) {
      b = new Mailbox();
      this.boxes.set(k, b);
    }
    return b;
  }
  transports(size: number): MemoryTransport[] {
    return Array.from({ length: size }, (_, rank) => new MemoryTransport(this, rank, size));
  }
}

export class MemoryTransport implements Transport {
  readonly stats: TransportStats = { sharedChunks: 0, wireChunks: 0 };

  constructor(
    private readonly hub: MemoryHub,
    readonly rank: number,
    readonly size: number,
  ) {}

  openSend(to: number, sequence: number): SendChannel {
    const box = this.hub.box(to, this.rank, sequence);
    return {
      write: (c) => {
        this.stats.sharedChunks++;
        box.push({ ...c, data: c.data.slice() });
      },
      flush: async () => undefined,
      abort: () => undefined,
    };
  }

  recv(from: number, sequence: number, timeoutMs: number): Promise<Chunk> {
    return this.hub.box(this.rank, from, sequence).take(timeoutMs, `collective ${sequence} from rank ${from}`);
  }
}

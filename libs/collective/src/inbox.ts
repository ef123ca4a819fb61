/**
 * Where incoming chunks wait for the collective: one FIFO mailbox per (sending rank, collective
 * sequence), fed by the stream from that rank (a gRPC Exchange call, a TCP connection) while it
 * carries that collective. Transports keep them in Mailboxes (mailboxes.ts).
 *
 * A receive waits at most its timeout, but not when waiting is pointless: once the feed is over,
 * because the stream moved on to the next collective or ended, or because it broke (the sender
 * aborted, its process died, the connection dropped), a receive that finds the mailbox empty
 * fails at once instead of sitting out the timeout.
 */
import { type Chunk, CollectiveError } from './transport';

interface Waiter {
  ok(c: Chunk): void;
  fail(e: Error): void;
  timer: NodeJS.Timeout;
}

export class Inbox {
  private readonly queue: Chunk[] = [];
  private readonly waiters: Waiter[] = [];
  private received = 0;
  /** set once the feeding stream is over: undefined error for a normal end */
  private ended: { error: Error | undefined } | undefined;
  /** cancels the feeding stream; set while a stream feeds (or has fed) this mailbox */
  private cancelFeed: ((reason: string) => void) | undefined;

  constructor(
    readonly from: number,
    readonly sequence: number,
  ) {}

  /** ended and emptied: nothing more will ever come out */
  get exhausted(): boolean {
    return this.ended !== undefined && this.queue.length === 0;
  }

  /** ended normally and emptied: safe to forget */
  get done(): boolean {
    return this.exhausted && this.ended?.error === undefined;
  }

  get attached(): boolean {
    return this.cancelFeed !== undefined;
  }

  /** A stream starts feeding this mailbox; `cancel` stops it if the collective is abandoned. */
  attach(cancel: (reason: string) => void): void {
    this.cancelFeed = cancel;
  }

  push(c: Chunk): void {
    if (this.ended) {
      c.release?.();
      return;
    }
    this.received++;
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.ok(c);
    } else this.queue.push(c);
  }

  /** The feed is over; receives still waiting learn why now. */
  end(error?: Error): void {
    if (this.ended) return;
    this.ended = { error };
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.fail(this.failure());
    }
  }

  /** Throws queued data away, fails waiters and stops the sender: the collective was abandoned. */
  discard(reason: string): void {
    this.release(reason);
    this.cancelFeed?.(reason);
  }

  /**
   * Throws queued data away and ignores what still comes, but lets the stream finish normally:
   * the receiver is done with this collective, and the sender's half-close may simply not have
   * arrived yet.
   */
  release(reason: string): void {
    for (const c of this.queue.splice(0)) c.release?.();
    this.end(new Error(reason));
  }

  /** the next chunk if one is queued, without waiting */
  poll(): Chunk | undefined {
    return this.queue.shift();
  }

  take(timeoutMs: number): Promise<Chunk> {
    const c = this.queue.shift();
    if (c) return Promise.resolve(c);
    if (this.ended) return Promise.reject(this.failure());
    return new Promise((ok, fail) => {
      const w: Waiter = {
        ok,
        fail,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          fail(new CollectiveError(`timed out after ${timeoutMs} ms waiting for ${this.what()}`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  private what(): string {
    return `collective ${this.sequence} from rank ${this.from}`;
  }

  private failure(): CollectiveError {
    const error = this.ended?.error;
    const after = `after ${this.received} chunk${this.received === 1 ? '' : 's'}`;
    return new CollectiveError(
      error
        ? `the stream of ${this.what()} broke ${after}: ${error.message}`
        : `the stream of ${this.what()} ended ${after}, before the chunk expected next`,
    );
  }
}

/**
 * The event plumbing both Session adapters share. grpc-js reports the end of a stream through
 * several events ('end', 'status', 'error', 'cancelled', 'close'), some of them twice and in an
 * order that depends on who ended it; the rest of Permafrost wants exactly one close callback
 * with at most one error, and every message before it, in order.
 */

type CloseFn = (error: Error | undefined) => void;

export class StreamEvents<M> {
  private readonly messageFns: ((m: M) => void)[] = [];
  private readonly closeFns: CloseFn[] = [];
  /** messages that arrived before anyone listened (a handler may subscribe a tick late) */
  private early: M[] | undefined = [];
  private closed: { error: Error | undefined } | undefined;

  get isClosed(): boolean {
    return this.closed !== undefined;
  }

  onMessage(fn: (m: M) => void): void {
    this.messageFns.push(fn);
    const early = this.early;
    this.early = undefined;
    for (const m of early ?? []) this.deliver(fn, m);
  }

  onClose(fn: CloseFn): void {
    const c = this.closed;
    if (c) queueMicrotask(() => fn(c.error));
    else this.closeFns.push(fn);
  }

  message(m: M): void {
    if (this.closed) return;
    if (this.early) this.early.push(m);
    else for (const fn of this.messageFns) this.deliver(fn, m);
  }

  /** Fires the close callbacks once; later calls are ignored. */
  close(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = { error };
    this.early = undefined;
    for (const fn of this.closeFns.splice(0)) {
      try {
        fn(error);
      } catch (e) {
        report(e);
      }
    }
  }

  // A throwing listener must not break the stream's bookkeeping or the other listeners; it is
  // still a bug, so it surfaces as an uncaught exception, as it would from any event emitter.
  private deliver(fn: (m: M) => void, m: M): void {
    try {
      fn(m);
    } catch (e) {
      report(e);
    }
  }
}

function report(e: unknown): void {
  queueMicrotask(() => {
    throw e;
  });
}

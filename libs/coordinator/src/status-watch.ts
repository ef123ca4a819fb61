/**
 * The coordinator's side of the Watch RPC (docs/architecture.md#the-control-plane): each watcher
 * gets a snapshot of the job at once, then one after each change the coordinator's events report
 * (membership, progress, epoch, state), at most one every `minIntervalMs`: changes in between
 * are coalesced into the next snapshot, so a watcher costs the coordinator a bounded amount of
 * work however fast workers report. When the job finishes or fails each watcher gets the final
 * snapshot at once and its call completes with OK. At most `maxWatchers` watch at once; one more
 * is refused with RESOURCE_EXHAUSTED.
 *
 * A snapshot is what Status answers plus the status view the HTTP port serves (libs/observe's
 * FleetView), without the view's time series (per-step points, per-worker rates), which a
 * terminal does not draw and which would make every snapshot grow with the run.
 */
import { create } from '@bufbuild/protobuf';
import type { StatusView } from '@permafrost/observe';
import { type StatusResponse, type WatchResponse, WatchResponseSchema } from '@permafrost/proto';
import { log, PermafrostError } from '@permafrost/telemetry';
import type { CoordinatorEventMap, CoordinatorEvents } from './coordinator-events';
import type { CoordinatorHandlers, WatchStream } from './handlers';

export interface StatusWatchOptions {
  /** the least time between two snapshots to one watcher, ms (default 500) */
  minIntervalMs?: number;
  /** watchers at once (default 16) */
  maxWatchers?: number;
}

/** What the watch reads: the coordinator's events and Status answer, and the observer's view. */
export interface WatchSource {
  events: CoordinatorEvents;
  status(): Promise<StatusResponse>;
  view(): StatusView;
}

const ENDED = new Set(['finished', 'failed']);
const EVENTS: (keyof CoordinatorEventMap)[] = ['membership', 'progress', 'epoch', 'state'];

/** The view without its time series. */
function compactView(v: StatusView): StatusView {
  return { ...v, stepPoints: [], workers: v.workers.map((w) => ({ ...w, rates: [] })) };
}

async function snapshot(source: WatchSource): Promise<WatchResponse> {
  const status = await source.status();
  const v = source.view();
  return create(WatchResponseSchema, {
    status,
    globalStep: BigInt(v.globalStep),
    totalSteps: BigInt(v.totalSteps),
    epochs: v.epochs,
    samplesPerSec: v.samplesPerSec,
    reason: v.reason ?? '',
    viewJson: JSON.stringify(compactView(v)),
  });
}

/** One watcher: its stream, its rate limit, and a queue that keeps its snapshots in order. */
class Watcher {
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly stream: WatchStream,
    private readonly source: WatchSource,
    private readonly minIntervalMs: number,
  ) {}

  /** Something changed: a snapshot now, or at the end of the current interval. */
  changed(): void {
    if (this.closed || this.timer) return;
    const waitMs = Math.max(0, this.lastAt + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.push();
    }, waitMs);
  }

  /** A snapshot after the ones queued; with `last`, or when the job has ended, the end of the call. */
  push(last = false): void {
    this.lastAt = Date.now();
    this.queue = this.queue.then(async () => {
      if (this.closed) return;
      const e = await snapshot(this.source);
      if (this.closed) return;
      // the interval counts from the send: a slow snapshot does not shorten the next gap
      this.lastAt = Date.now();
      this.stream.send(e);
      if (last || ENDED.has(e.status?.state ?? '')) this.end();
    });
    this.queue = this.queue.catch((err: unknown) => this.end(new PermafrostError('internal', `watch: ${(err as Error).message}`)));
  }

  /** The final snapshot, then the end of the call. */
  finish(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.push(true);
  }

  end(error?: PermafrostError): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.stream.end(error);
  }

  /** The call is gone (cancelled, dropped or ended): stop without writing. */
  dropped(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

export class StatusWatch {
  private readonly watchers = new Set<Watcher>();
  private readonly minIntervalMs: number;
  private readonly maxWatchers: number;

  constructor(
    private readonly source: WatchSource,
    opts: StatusWatchOptions = {},
  ) {
    this.minIntervalMs = opts.minIntervalMs ?? 500;
    this.maxWatchers = opts.maxWatchers ?? 16;
    // one listener per event for all watchers, however many come and go
    for (const name of EVENTS) source.events.on(name, () => this.changed());
  }

  /** watchers now */
  get size(): number {
    return this.watchers.size;
  }

  /** Serves one Watch call; throws RESOURCE_EXHAUSTED when `maxWatchers` already watch. */
  watch(stream: WatchStream): void {
    if (this.watchers.size >= this.maxWatchers) {
      throw new PermafrostError('resource-exhausted', `at most ${this.maxWatchers} Watch calls at once; try again later`);
    }
    const w = new Watcher(stream, this.source, this.minIntervalMs);
    this.watchers.add(w);
    stream.onClose(() => {
      w.dropped();
      this.watchers.delete(w);
      log().info('watch ended', { peer: stream.peer, watchers: this.watchers.size });
    });
    log().info('watch started', { peer: stream.peer, watchers: this.watchers.size });
    w.push();
  }

  /** Ends every call after a final snapshot (the coordinator is going away). */
  close(): void {
    for (const w of this.watchers) w.finish();
  }

  private changed(): void {
    if (this.watchers.size === 0) return;
    const ended = ENDED.has(this.source.view().state);
    for (const w of this.watchers) {
      if (ended) w.finish();
      else w.changed();
    }
  }
}

/** `handlers` plus Watch served by `watch`, for the transport. */
export function withWatch(handlers: CoordinatorHandlers, watch: StatusWatch): CoordinatorHandlers {
  return {
    join: (req, caller) => handlers.join(req, caller),
    session: (stream) => handlers.session(stream),
    leave: (req, caller) => handlers.leave(req, caller),
    status: (req, caller) => handlers.status(req, caller),
    watch: (_req, stream) => watch.watch(stream),
  };
}

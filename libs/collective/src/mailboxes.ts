/**
 * The receiving side of a network transport, for one membership generation: the mailboxes
 * (inbox.ts) of the collectives in flight, keyed by (sending rank, sequence), and the rules
 * every transport keeps whatever carries its bytes (gRPC streams, TCP connections).
 *
 * Collectives run one after another, so a receive for collective s from rank r means every
 * earlier collective with r is over: their mailboxes are dropped, and a chunk of an earlier
 * collective that turns up late is refused. A collective that failed here (a send failed, timed
 * out or was aborted) is doomed: pending and later receives of it fail at once, and the streams
 * feeding it are refused, so the failure travels back around the ring hop by hop instead of
 * every rank sitting out its timeout. retire() fails everything for good.
 */
import { Inbox } from './inbox';
import { type Chunk, CollectiveError } from './transport';

/** Why a stream cannot feed a mailbox; transports map it onto their own status codes. */
export type RefusalKind = 'retired' | 'not-a-peer' | 'doomed' | 'over' | 'taken';

export class MailboxRefused extends CollectiveError {
  constructor(
    message: string,
    readonly kind: RefusalKind,
  ) {
    super(message);
  }
}

export class Mailboxes {
  private readonly inboxes = new Map<string, Inbox>();
  /** per sending rank, the highest collective a receive has asked for */
  private readonly reached = new Map<number, number>();
  /** collectives that cannot complete here any more, and why */
  private readonly doomed = new Map<number, string>();
  private retiredReason: string | undefined;

  constructor(
    readonly rank: number,
    readonly size: number,
    /** what this membership is called in messages, e.g. `generation 3` */
    private readonly membership: string,
  ) {}

  /** why this transport stopped for good, once it has */
  get retired(): string | undefined {
    return this.retiredReason;
  }

  isPeer(r: number): boolean {
    return Number.isInteger(r) && r >= 0 && r < this.size && r !== this.rank;
  }

  recv(from: number, sequence: number, timeoutMs: number): Promise<Chunk> {
    if (this.retiredReason) return Promise.reject(new CollectiveError(`cannot receive collective ${sequence}: ${this.retiredReason}`));
    if (!this.isPeer(from)) return Promise.reject(new CollectiveError(`no rank ${from} to receive from in a ring of ${this.size}`));
    const doomed = this.doomed.get(sequence);
    if (doomed) return Promise.reject(new CollectiveError(`collective ${sequence} cannot complete: ${doomed}`));
    this.forgetBefore(from, sequence);
    const box = this.inbox(from, sequence);
    const ready = box.poll();
    if (ready) return Promise.resolve(ready);
    // A mailbox no stream feeds after its receive timed out is dead weight. Consumed ones stay,
    // empty, until the next collective from that rank: a receive past the end fails at once.
    return box.take(timeoutMs).catch((e: unknown) => {
      if (!box.attached && !box.exhausted) this.inboxes.delete(key(from, sequence));
      throw e;
    });
  }

  /**
   * The mailbox a stream from `from` feeds next, for collective `sequence`. Throws MailboxRefused
   * when the stream must be refused: retired, not a peer, the collective doomed or over here, or
   * another stream already feeds it.
   */
  incoming(from: number, sequence: number): Inbox {
    if (this.retiredReason) {
      throw new MailboxRefused(`rank ${this.rank} no longer takes part in ${this.membership}: ${this.retiredReason}`, 'retired');
    }
    if (!this.isPeer(from)) {
      throw new MailboxRefused(`from rank ${from} is not another rank of a ring of ${this.size} (this is rank ${this.rank})`, 'not-a-peer');
    }
    const doomed = this.doomed.get(sequence);
    if (doomed) throw new MailboxRefused(`rank ${this.rank} gave up collective ${sequence}: ${doomed}`, 'doomed');
    const reached = this.reached.get(from) ?? 0;
    if (sequence < reached) {
      throw new MailboxRefused(
        `rank ${this.rank} has moved on to collective ${reached}; collective ${sequence} from rank ${from} is abandoned`,
        'over',
      );
    }
    const box = this.inbox(from, sequence);
    if (box.attached) throw new MailboxRefused(`rank ${from} already streams collective ${sequence} to rank ${this.rank}`, 'taken');
    return box;
  }

  /**
   * Collective `sequence` cannot complete here: pending and later receives of it fail now, and
   * the streams feeding it are stopped (see Inbox.discard).
   */
  doom(sequence: number, reason: string): void {
    if (this.doomed.has(sequence)) return;
    this.doomed.set(sequence, reason);
    for (const s of this.doomed.keys()) if (s < sequence - 16) this.doomed.delete(s);
    for (const box of this.inboxes.values())
      if (box.sequence === sequence) box.discard(`collective ${sequence} cannot complete: ${reason}`);
  }

  /**
   * Fails every receive for good. `stopFeeds`: also stop the streams feeding the mailboxes (a new
   * membership); otherwise let them finish, since a sender's end may trail its last chunk.
   */
  retire(reason: string, stopFeeds: boolean): void {
    this.retiredReason ??= reason;
    for (const box of this.inboxes.values()) {
      if (stopFeeds) box.discard(reason);
      else box.release(reason);
    }
    this.inboxes.clear();
  }

  private inbox(from: number, sequence: number): Inbox {
    const k = key(from, sequence);
    let box = this.inboxes.get(k);
    if (!box) {
      box = new Inbox(from, sequence);
      this.inboxes.set(k, box);
    }
    return box;
  }

  private forgetBefore(from: number, sequence: number): void {
    if ((this.reached.get(from) ?? 0) >= sequence) return;
    this.reached.set(from, sequence);
    for (const [k, box] of this.inboxes) {
      if (box.from === from && box.sequence < sequence) {
        box.release(`rank ${this.rank} has moved on to collective ${sequence}`);
        this.inboxes.delete(k);
      }
    }
  }
}

const key = (from: number, sequence: number) => `${from}/${sequence}`;

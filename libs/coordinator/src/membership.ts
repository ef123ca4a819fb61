/**
 * Membership: the join barrier and rank assignment.
 *
 * Workers call Join with a stable id. The coordinator holds every Join open until the expected
 * number of workers has arrived (or, after `joinTimeoutMs`, at least `minWorkers`), then answers
 * them all at once with generation 1: ranks in sorted worker-id order (stable across restarts),
 * the peers' addresses, and each worker's shards by rendezvous hashing. A Join with an id already
 * waiting is refused. Later generations are formed by `next` (the coordinator decides who is in
 * them, docs/distributed.md#a-new-generation): ranks again in worker-id order, and rendezvous
 * hashing moves only the shards of workers that left or joined.
 */
import { assignShards } from '@permafrost/data';
import { PermafrostError } from '@permafrost/telemetry';

export interface JoinInfo {
  workerId: string;
  peerAddress: string;
  /** the worker's TCP data plane, '' if it serves none */
  dataAddress?: string;
  backend: string;
  /** the name on the certificate it joined with; every later call must present the same */
  identity?: string;
}

export interface Member extends JoinInfo {
  rank: number;
  shards: number[];
}

export interface Formed {
  generation: bigint;
  members: Member[];
}

/** A refused or failed join; its code is the Join call's status. */
export class MembershipError extends PermafrostError {
  override readonly name = 'MembershipError';
  constructor(message: string, code: 'already-exists' | 'failed-precondition' | 'deadline-exceeded') {
    super(code, message);
  }
}

export class Membership {
  private readonly pending = new Map<string, JoinInfo>();
  private waiters: { resolve: (f: Formed) => void; reject: (e: Error) => void }[] = [];
  private formedValue: Formed | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** the current generation; the first one is 1, or after the generations of a lost coordinator (takeover.ts) */
  generation = 1n;

  constructor(private readonly opts: { expected: number; minWorkers: number; joinTimeoutMs: number; shardCount: number }) {}

  /** the identity worker `workerId` joined with, if it is waiting or a member */
  identityOf(workerId: string): string | undefined {
    return (this.formedValue?.members.find((m) => m.workerId === workerId) ?? this.pending.get(workerId))?.identity;
  }

  get formed(): Formed | undefined {
    return this.formedValue;
  }

  /** Resolves when the membership forms; rejects if this join is refused or time runs out. */
  join(info: JoinInfo): Promise<Formed> {
    if (this.formedValue) {
      const m = this.formedValue.members.find((x) => x.workerId === info.workerId);
      if (m)
        return Promise.reject(
          new MembershipError(`worker ${info.workerId} already joined (generation ${this.generation})`, 'already-exists'),
        );
      return Promise.reject(
        new MembershipError(`the job is already running with ${this.formedValue.members.length} workers`, 'failed-precondition'),
      );
    }
    if (this.pending.has(info.workerId)) {
      return Promise.reject(new MembershipError(`a worker with id ${info.workerId} is already waiting to join`, 'already-exists'));
    }
    // one certificate, one member: a stolen or shared certificate cannot take several ranks
    if (info.identity !== undefined && [...this.pending.values()].some((p) => p.identity === info.identity)) {
      return Promise.reject(new MembershipError('a worker with this certificate is already waiting to join', 'already-exists'));
    }
    this.pending.set(info.workerId, info);
    this.timer ??= setTimeout(() => this.onTimeout(), this.opts.joinTimeoutMs);
    const p = new Promise<Formed>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.pending.size >= this.opts.expected) this.form();
    return p;
  }

  /** A waiting worker went away before the membership formed (its waiting Join is not answered). */
  withdraw(workerId: string): void {
    if (!this.formedValue) this.pending.delete(workerId);
  }

  private onTimeout(): void {
    if (this.formedValue) return;
    if (this.pending.size >= this.opts.minWorkers) this.form();
    else
      this.fail(
        new MembershipError(
          `only ${this.pending.size} of ${this.opts.minWorkers} workers joined within ${this.opts.joinTimeoutMs} ms`,
          'deadline-exceeded',
        ),
      );
  }

  fail(e: Error): void {
    clearTimeout(this.timer);
    for (const w of this.waiters) w.reject(e);
    this.waiters = [];
  }

  private form(): void {
    clearTimeout(this.timer);
    this.formedValue = this.assign(this.generation, [...this.pending.values()]);
    for (const w of this.waiters) w.resolve(this.formedValue);
    this.waiters = [];
  }

  /** Forms the next generation of `workers`. */
  next(workers: readonly JoinInfo[]): Formed {
    this.generation++;
    this.formedValue = this.assign(this.generation, workers);
    return this.formedValue;
  }

  private assign(generation: bigint, workers: readonly JoinInfo[]): Formed {
    const byId = new Map(workers.map((w) => [w.workerId, w]));
    const ids = [...byId.keys()].sort();
    const shards = assignShards(this.opts.shardCount, ids);
    const members = ids.map((id, rank) => ({ ...(byId.get(id) as JoinInfo), rank, shards: shards.get(id) ?? [] }));
    return { generation, members };
  }

  close(): void {
    clearTimeout(this.timer);
  }
}

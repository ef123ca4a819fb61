/**
 * Membership changes of a running job, the elastic part of the coordinator
 * (docs/distributed.md#a-new-generation): a worker whose stream breaks, who
 * sends nothing for `heartbeatTimeoutMs`, reports a failure or leaves is dropped, not fatal. The
 * coordinator says Halt to the others, waits for each one's Halted (its newest commit) and forms
 * the next generation of the survivors and any worker that joined meanwhile (on standby: it
 * joined, built its model and said Hello): a Regroup to each names its rank, shards, the resume
 * step and the state rank. Below `minWorkers` it waits `rejoinTimeoutMs` for workers, then has a
 * survivor checkpoint the newest commit (last-checkpoint.ts) and fails naming the missing ones;
 * more than `maxRestarts` changes fail the job too. After a generation that committed no step the
 * next one forms after a pause (regroup-backoff.ts). A stopping coordinator (coordinator-stop.ts)
 * halts every member the same way, forms no generation and fails the job after that checkpoint.
 */
import { log, PermafrostError } from '@permafrost/telemetry';
import { CoordinatorBase } from './coordinator-base';
import { peerInfo } from './coordinator-options';
import { type MembershipChange, Reform } from './generations';
import type { Formed, JoinInfo, Member } from './membership';
import { RegroupBackoff } from './regroup-backoff';

export abstract class Reforming extends CoordinatorBase {
  private readonly backoff = new RegroupBackoff();

  protected checkHeartbeats(): void {
    if (this.state !== 'running' && this.state !== 'reforming') return;
    const now = Date.now();
    // Building the model and opening the cache happen between Join and Hello: that phase is
    // bounded by the join timeout, the heartbeat timeout applies once a session is up.
    const silent = this.members.filter((m) => !this.hello.has(m.workerId) && !this.reform?.left.has(m.workerId));
    if (silent.length > 0 && now - this.formedAt > this.opts.joinTimeoutMs) {
      for (const m of silent) this.lose(m.workerId, `joined but never opened its session within ${this.opts.joinTimeoutMs} ms`);
      return;
    }
    for (const [id, t] of this.lastSeen) {
      if (now - t > this.opts.heartbeatTimeoutMs) this.lose(id, `stopped answering (no heartbeat for ${now - t} ms)`);
    }
  }

  /**
   * A member or a standby worker is gone: its session is cut (a stopped process that resumes
   * finds itself refused), and the membership changes without it.
   */
  lose(workerId: string, reason: string): void {
    if (this.state !== 'running' && this.state !== 'reforming') return;
    this.lastCheckpoint.lost(workerId, reason);
    this.lastSeen.delete(workerId);
    this.hello.delete(workerId);
    const stream = this.sessions.get(workerId);
    this.sessions.delete(workerId);
    stream?.end(new PermafrostError('failed-precondition', `worker ${workerId} was excluded from the job: ${reason}`));
    if (this.standby.delete(workerId)) {
      log().warn('standby worker lost', { worker: workerId, reason });
      this.failures.lost(workerId, reason);
      this.maybeRegroup();
      return;
    }
    if (!this.members.some((m) => m.workerId === workerId) || this.reform?.left.has(workerId)) return;
    log().warn('worker lost', { worker: workerId, reason });
    this.failures.lost(workerId, reason);
    this.startReform(`worker ${this.describe(workerId)} ${reason}`);
    this.reform?.left.set(workerId, reason);
    this.maybeRegroup();
  }

  protected startReform(reason: string): void {
    if (this.state !== 'running') return;
    this.setState('reforming');
    this.reform = new Reform(reason);
    this.broadcast({ command: { case: 'halt', value: { reason } } });
  }

  /** Forms the next generation once every member has halted or left, and enough workers are there. */
  protected maybeRegroup(): void {
    const r = this.reform;
    if (this.state !== 'reforming' || !r) return;
    if (r.waitingFor(this.members.map((m) => m.workerId)).length > 0) return;
    if (r.closing) {
      r.allHalted?.();
      return;
    }
    const survivors = this.members.filter((m) => !r.left.has(m.workerId));
    const ready = [...this.standby.values()].filter((w) => this.hello.has(w.workerId));
    const count = Math.min(survivors.length + ready.length, this.opts.maxWorkers);
    if (count < this.opts.minWorkers) {
      this.awaitRejoin(r, survivors.length + ready.length);
      return;
    }
    if (this.pausing(r, survivors)) return;
    clearTimeout(r.rejoinTimer);
    this.regroup(r, survivors, ready.slice(0, count - survivors.length));
  }

  /**
   * Whether the generation `r` would form waits first (regroup-backoff.ts): the current one
   * committed no step. Once the pause is over the next call forms it, with whoever is there then.
   */
  private pausing(r: Reform, survivors: Member[]): boolean {
    if (r.pause === 'over') return false;
    if (r.pause === 'running') return true;
    const point = r.resumePoint(survivors.map((m) => m.workerId));
    const ms = point ? this.backoff.pauseMs(point.step) : 0;
    if (ms === 0) return false;
    r.pause = 'running';
    log().warn('pausing before the next generation', { ms, resumeStep: point?.step, why: 'the current generation committed no step' });
    setTimeout(() => {
      r.pause = 'over';
      this.maybeRegroup();
    }, ms).unref();
    return true;
  }

  protected awaitRejoin(r: Reform, have: number): void {
    if (r.rejoinTimer) return;
    log().warn('waiting for workers', { have, minWorkers: this.opts.minWorkers, rejoinTimeoutMs: this.opts.rejoinTimeoutMs });
    r.rejoinTimer = setTimeout(() => void this.failBelowMinimum(r, have), this.opts.rejoinTimeoutMs);
  }

  /** Fails the job below minWorkers, once a survivor has checkpointed the newest commit (last-checkpoint.ts). */
  private async failBelowMinimum(r: Reform, have: number): Promise<void> {
    r.closing = true;
    const missing = [...r.left].map(([id, why]) => `${id} (${why})`).join(', ');
    const why = `only ${have} of the minimum ${this.opts.minWorkers} workers after waiting ${this.opts.rejoinTimeoutMs} ms; missing: ${missing}`;
    this.fail(`${why}; ${await this.saveNewest(r, why)}`);
  }

  /** Has the survivor holding the newest commit write it as a checkpoint; resolves with a clause saying where, or why not. */
  private async saveNewest(r: Reform, why: string, timeoutMs?: number): Promise<string> {
    const point = r.resumePoint(this.members.filter((m) => !r.left.has(m.workerId)).map((m) => m.workerId));
    if (!point) return 'no surviving worker holds a commit to checkpoint';
    const ask = () => this.sendTo(point.stateWorker, { command: { case: 'saveCommit', value: { reason: why } } });
    return this.lastCheckpoint.save(point.stateWorker, point.step, ask, timeoutMs);
  }

  /**
   * The coordinator is stopping (coordinator-stop.ts): every member halts at its step boundary
   * and no generation forms; once all have halted (or after `haltWaitMs`) the survivor holding
   * the newest commit writes it as a checkpoint (at most `saveTimeoutMs`), and the job fails with
   * `reason` and where that checkpoint is. False when no job runs (nothing to checkpoint); a job
   * already failing below minWorkers writes its own.
   */
  stopJob(reason: string, o: { haltWaitMs: number; saveTimeoutMs: number }): boolean {
    if (this.state !== 'running' && this.state !== 'reforming') return false;
    this.startReform(reason);
    const r = this.reform;
    if (!r || r.closing) return true;
    r.closing = true;
    clearTimeout(r.rejoinTimer);
    log().warn('stopping the job', { reason, waitingFor: r.waitingFor(this.members.map((m) => m.workerId)) });
    const halted = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.haltWaitMs);
      r.allHalted = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.maybeRegroup();
    void halted.then(async () => this.fail(`${reason}; ${await this.saveNewest(r, reason, o.saveTimeoutMs)}`));
    return true;
  }

  protected regroup(r: Reform, survivors: Member[], joiners: JoinInfo[]): void {
    const point = r.resumePoint(survivors.map((m) => m.workerId));
    if (!point) {
      this.fail(`no surviving worker holds the training state (${r.reason})`);
      return;
    }
    if (this.membership.generation > BigInt(this.opts.maxRestarts)) {
      this.fail(`the membership changed ${this.opts.maxRestarts + 1} times (cluster.maxRestarts ${this.opts.maxRestarts}): ${r.reason}`);
      return;
    }
    const epoch = this.epoch || this.opts.startEpoch;
    const before = new Map(this.members.map((m) => [m.workerId, m.shards]));
    for (const [id] of r.left) this.ledger.credit(epoch, before.get(id) ?? [], point.step);
    const formed = this.membership.next([...survivors, ...joiners]);
    this.backoff.formed(point.step);
    this.ledger.moved(before, new Map(formed.members.map((m) => [m.workerId, m.shards])), point.step);
    for (const j of joiners) this.standby.delete(j.workerId);
    this.epoch = epoch;
    this.results = new Map();
    this.reform = undefined;
    this.setState('running');
    const left = [...r.left].map(([workerId, reason]) => ({ workerId, reason }));
    this.events.emit('membership', { generation: formed.generation, members: formed.members, reason: r.reason, left });
    const now = Date.now();
    for (const m of formed.members) this.lastSeen.set(m.workerId, now);
    this.announce(formed, point, epoch);
    this.record(r, formed, joiners, point.step, epoch);
  }

  protected announce(formed: Formed, point: { step: number; stateWorker: string }, epoch: number): void {
    const stateRank = formed.members.find((m) => m.workerId === point.stateWorker)?.rank ?? 0;
    const plan = this.epochPlan(epoch);
    for (const m of formed.members) {
      const value = {
        rank: m.rank,
        worldSize: formed.members.length,
        peers: formed.members.map(peerInfo),
        shards: m.shards,
        shardCount: this.opts.shardCount,
        resumeStep: BigInt(point.step),
        stateRank,
        epoch: plan,
      };
      this.sendTo(m.workerId, { command: { case: 'regroup', value } }, formed.generation);
    }
  }

  protected record(r: Reform, formed: Formed, joiners: JoinInfo[], resumeStep: number, epoch: number): void {
    const change: MembershipChange = {
      generation: Number(formed.generation),
      epoch,
      resumeStep,
      workers: formed.members.length,
      left: [...r.left].map(([workerId, reason]) => ({ workerId, reason })),
      joined: joiners.map((j) => j.workerId),
      excluded: [...r.left.keys()].filter((id) => this.failures.excluded(id)),
      secondsLost: Math.round(r.seconds * 1000) / 1000,
    };
    this.changes.push(change);
    log().warn('membership changed', { ...change, why: r.reason });
    this.opts.onMembership?.(change);
  }
}

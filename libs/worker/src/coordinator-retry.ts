/**
 * Losing the coordinator (docs/distributed.md#losing-the-coordinator).
 *
 * A worker whose coordinator went away (its Session broke, or nothing came for
 * `heartbeatTimeoutMs`: CoordinatorLost) keeps its process, its model, its open cache and its
 * committed training state. It halts at the step boundary (the collective in flight fails and
 * the loop keeps its newest commit), then calls Join again for up to `graceMs`, with a backoff of
 * 250 ms doubling to 5 s, saying who it is, the generation it was in and the step and epoch of
 * its newest commit (JoinRequest.rejoin). A coordinator restarted with `--resume` on the same
 * address answers on standby and forms a generation of the workers that came back; a Regroup on
 * the new Session then places this worker, and training continues from the newest commit any of
 * them holds. After the grace (and a Join already held by a coordinator that is forming its
 * membership, at most `cluster.joinTimeoutMs` longer), or when the coordinator refuses it, the
 * worker exits with the reason. A stream the coordinator ended on purpose (an exclusion, Abort)
 * is not a loss: the worker exits at once, as with `graceMs` 0; nor is the end of a session this
 * worker left itself (graceful-stop.ts). A stop requested while the worker waits ends the wait:
 * the worker has nobody to tell and exits 0.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { CoordinatorClient } from '@permafrost/coordinator';
import { engineInfo } from '@permafrost/engine';
import type { JobSpec } from '@permafrost/job';
import { JoinRequestSchema, type JoinResponse, type Membership, type RejoinSchema } from '@permafrost/proto';
import { type Logger, PermafrostError } from '@permafrost/telemetry';
import type { TrainingLoop } from '@permafrost/trainer';
import type { EpochDriver } from './epoch-driver';
import type { GracefulStop } from './graceful-stop';
import type { JoinAs } from './join';
import { CoordinatorLost, type SessionHandlers, WorkerSession } from './worker-session';

const FIRST_WAIT_MS = 250;
const MAX_WAIT_MS = 5000;

export interface SessionHold {
  client: CoordinatorClient;
  me: JoinAs;
  /** the coordinator's address, for messages */
  coordinator: string;
  /** how long to retry a lost coordinator; 0: exit at once */
  graceMs: number;
  job: JobSpec;
  /** the job spec as the first Join answer carried it */
  jobSpecJson: string;
  driver: EpochDriver;
  loop: TrainingLoop;
  modelInfo: Record<string, unknown>;
  logger: Logger;
  /** this worker's graceful stop: told of every session it holds */
  stop: GracefulStop;
}

/**
 * Holds `session` (opened for `joined`) until Finish or this worker's own leaving; when the
 * coordinator is lost, waits for a restarted one to take this worker back and holds the new
 * session. Returns the membership of the last session, or undefined when a stop ended the wait.
 */
export async function holdSessions(
  o: SessionHold,
  session: WorkerSession,
  joined: JoinResponse,
  on: SessionHandlers,
): Promise<Membership | undefined> {
  let current = { session, joined };
  for (;;) {
    const { session: s, joined: j } = current;
    o.stop.attach(s, o.driver);
    try {
      await s.run(o.modelInfo, beatOf(o.job, j), on);
      return s.membershipNow;
    } catch (e) {
      // asked to stop and the coordinator is gone: nobody to leave
      if (e instanceof CoordinatorLost && o.stop.stopping) return stoppedWaiting(o, e);
      if (!(e instanceof CoordinatorLost) || o.graceMs <= 0) throw e;
      o.stop.detach();
      const back = await afterLoss(o, s, e);
      if (!back) return undefined;
      current = { session: new WorkerSession(o.client, back.membership, o.me.workerId, o.coordinator), joined: back };
      o.driver.attach(current.session);
    } finally {
      s.end();
    }
  }
}

function beatOf(job: JobSpec, j: JoinResponse) {
  return {
    heartbeatMs: j.heartbeatMs || job.cluster.heartbeatMs,
    heartbeatTimeoutMs: j.heartbeatTimeoutMs || job.cluster.heartbeatTimeoutMs,
  };
}

/** Halts at the step boundary, keeps the newest commit, and joins again within the grace; undefined when a stop ends the wait. */
async function afterLoss(o: SessionHold, session: WorkerSession, lost: CoordinatorLost): Promise<JoinResponse | undefined> {
  const t0 = Date.now();
  session.end();
  o.driver.halt(lost.message);
  await session.drained();
  if (o.stop.stopping) return stoppedWaiting(o, lost);
  const step = o.loop.committedStep;
  const rejoin = {
    generation: session.membershipNow.generation,
    committedStep: BigInt(step ?? 0),
    committedEpoch: o.loop.commits.latest?.progress.epoch ?? 0,
    hasState: step !== undefined,
  };
  o.logger.warn('coordinator lost; waiting for it to come back', {
    reason: lost.message,
    generation: Number(rejoin.generation),
    committedStep: step,
    graceMs: o.graceMs,
  });
  const jobId = session.membershipNow.jobId;
  const rejoining = rejoinWithin(o, { ...o.me, jobId }, rejoin, lost, t0 + o.graceMs);
  // a stop ends the wait; the Join under way then settles unheard
  rejoining.catch(() => undefined);
  const back = await Promise.race([rejoining, o.stop.requested]);
  if (!back) return stoppedWaiting(o, lost);
  checkSameJob(o.jobSpecJson, back.jobSpecJson);
  o.logger.info('rejoined the coordinator', {
    generation: Number(back.membership?.generation ?? 0n),
    committedStep: step,
    secondsAway: (Date.now() - t0) / 1000,
  });
  return back;
}

function stoppedWaiting(o: SessionHold, lost: CoordinatorLost): undefined {
  o.logger.warn('stopped while waiting for the coordinator', { reason: lost.message, committedStep: o.loop.committedStep });
  return undefined;
}

async function rejoinWithin(
  o: SessionHold,
  me: JoinAs,
  rejoin: MessageInitShape<typeof RejoinSchema>,
  lost: CoordinatorLost,
  deadline: number,
): Promise<JoinResponse> {
  const req = create(JoinRequestSchema, { ...me, backend: engineInfo()?.backend ?? '', rejoin });
  let waitMs = FIRST_WAIT_MS;
  while (Date.now() < deadline && !o.stop.stopping) {
    try {
      // a restarted coordinator holds the Join until its membership forms, at most its join
      // timeout: a call under way when the grace ends is waited for that long
      const back = await o.client.join(req, Math.max(1000, deadline - Date.now()) + o.job.cluster.joinTimeoutMs);
      if (!back.standby) throw new PermafrostError('failed-precondition', 'the coordinator did not take this worker back on standby');
      return back;
    } catch (e) {
      if (!(e instanceof PermafrostError && (e.code === 'unavailable' || e.code === 'deadline-exceeded'))) {
        const code = e instanceof PermafrostError ? e.code : 'unknown';
        throw new PermafrostError(code, `${lost.message}; the coordinator there refused to take this worker back: ${(e as Error).message}`);
      }
    }
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(waitMs, deadline - Date.now()))));
    waitMs = Math.min(2 * waitMs, MAX_WAIT_MS);
  }
  throw new PermafrostError('unavailable', `${lost.message}; it did not come back within cluster.coordinatorGraceMs (${o.graceMs} ms)`);
}

/** A coordinator that takes this worker back must train the model this worker built, the same way. */
function checkSameJob(mine: string, theirs: string): void {
  const training = (json: string) => {
    const j = JSON.parse(json) as Record<string, unknown>;
    return JSON.stringify([j.model, j.data, j.freeze, j.train]);
  };
  if (training(mine) !== training(theirs)) {
    throw new PermafrostError(
      'failed-precondition',
      'the restarted coordinator runs another model, data, freeze or train section than the one this worker was built for',
    );
  }
}

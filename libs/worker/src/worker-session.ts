/**
 * The worker's side of the Session stream (docs/architecture.md#the-control-plane). Every message
 * carries the job id, the generation and this worker's id. The worker says Hello, then sends a
 * Heartbeat every `heartbeatMs` (the period the coordinator gave in the Join answer), progress,
 * and one EpochResult per EpochPlan. Plans are handled one after another, in order; Finish ends
 * the session once the plans before it are done; Abort, a broken stream or a failed plan ends it
 * with the reason (a failed plan is also reported up as a WorkerFailure), never a hang.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { CoordinatorClient, SessionClientStream } from '@permafrost/coordinator';
import { type EpochPlan, type Membership, MembershipSchema, SessionRequestSchema } from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';

export type SessionEvent = MessageInitShape<typeof SessionRequestSchema>['event'];

export class WorkerSession {
  private readonly stream: SessionClientStream;
  private readonly membership: Membership;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    client: CoordinatorClient,
    membership: Membership | undefined,
    private readonly workerId: string,
    private readonly coordinator: string,
  ) {
    this.stream = client.session();
    this.membership = create(MembershipSchema, { generation: membership?.generation ?? 0n, jobId: membership?.jobId ?? '' });
  }

  send(event: SessionEvent): void {
    this.stream.send(create(SessionRequestSchema, { membership: this.membership, workerId: this.workerId, event }));
  }

  /** Says Hello and handles plans until Finish; rejects on Abort, a broken stream or a failed plan. */
  run(modelInfo: Record<string, unknown>, heartbeatMs: number, onPlan: (plan: EpochPlan) => Promise<void>): Promise<void> {
    return new Promise<void>((done, fail) => {
      let finished = false;
      let queue = Promise.resolve();
      this.stream.onClose((error) => {
        if (!finished)
          fail(new PermafrostError('unavailable', `lost the coordinator at ${this.coordinator}${error ? `: ${error.message}` : ''}`));
      });
      this.stream.onMessage((m) => {
        const c = m.command;
        if (c.case === 'finish') {
          finished = true;
          queue.then(() => done(), fail);
        } else if (c.case === 'abort') {
          finished = true;
          fail(new PermafrostError('aborted', `the coordinator aborted the job: ${c.value.reason}`));
        } else if (c.case === 'epoch') {
          const plan = c.value;
          queue = queue.then(() => onPlan(plan)).catch((e: unknown) => this.failed(e, fail));
        }
      });
      this.send({ case: 'hello', value: { modelInfoJson: JSON.stringify(modelInfo) } });
      this.heartbeat = setInterval(() => this.send({ case: 'heartbeat', value: { sentAtMs: BigInt(Date.now()) } }), heartbeatMs);
    });
  }

  private failed(e: unknown, fail: (e: Error) => void): void {
    const message = e instanceof Error ? e.message : String(e);
    this.send({ case: 'failure', value: { message } });
    fail(e instanceof Error ? e : new PermafrostError('internal', message));
  }

  end(): void {
    clearInterval(this.heartbeat);
    this.stream.end();
  }
}

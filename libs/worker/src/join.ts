/**
 * Joining the coordinator: Join is retried while the coordinator is not up yet (UNAVAILABLE),
 * bounded by `timeoutMs`; any other refusal ends the worker with the coordinator's reason.
 */
import { create } from '@bufbuild/protobuf';
import type { CoordinatorClient } from '@permafrost/coordinator';
import { engineInfo } from '@permafrost/engine';
import { JoinRequestSchema, type JoinResponse } from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';

export interface JoinAs {
  workerId: string;
  /** the job this worker was started for; '' accepts the coordinator's */
  jobId: string;
  peerAddress: string;
  dataAddress: string;
}

export async function joinCoordinator(client: CoordinatorClient, me: JoinAs, timeoutMs: number): Promise<JoinResponse> {
  const req = create(JoinRequestSchema, { ...me, backend: engineInfo()?.backend ?? '' });
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0) throw new PermafrostError('deadline-exceeded', `could not join the coordinator within ${timeoutMs} ms`);
    try {
      return await client.join(req, left);
    } catch (e) {
      if (e instanceof PermafrostError && e.code === 'unavailable' && attempt < 10_000) {
        await new Promise((r) => setTimeout(r, Math.min(250, Math.max(10, deadline - Date.now()))));
        continue;
      }
      throw new PermafrostError(e instanceof PermafrostError ? e.code : 'unknown', `join refused: ${(e as Error).message}`);
    }
  }
}

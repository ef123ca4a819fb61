/**
 * A tool's side of Watch: the snapshots as they come, then exactly one close, OK when the
 * coordinator completed the call (the job ended), else the status as a PermafrostError
 * ('cancelled' after cancel()). No deadline: a watch lasts as long as the job.
 */
import type { Client, ClientReadableStream, Metadata, StatusObject } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { WatchClientStream } from '@permafrost/coordinator';
import type { WatchRequest, WatchResponse } from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';
import { coordinatorService } from './services';
import { fromServiceError, rpcCode } from './status';
import { StreamEvents } from './stream-events';

class ClientWatch implements WatchClientStream {
  private readonly events = new StreamEvents<WatchResponse>();

  constructor(private readonly call: ClientReadableStream<WatchResponse>) {
    call.on('data', (e: WatchResponse) => this.events.message(e));
    // as for the Session: 'error' and 'status' both end it; grpc-js emits the status after the
    // messages before it
    call.on('error', (e: Error) => this.events.close(fromServiceError(e)));
    call.on('status', (s: StatusObject) =>
      this.events.close(s.code === status.OK ? undefined : new PermafrostError(rpcCode(s.code), s.details)),
    );
  }

  onEvent(fn: (e: WatchResponse) => void): void {
    this.events.onMessage(fn);
  }

  onClose(fn: (error: Error | undefined) => void): void {
    this.events.onClose(fn);
  }

  cancel(): void {
    if (!this.events.isClosed) this.call.cancel();
  }
}

export function openWatchCall(client: Client, req: WatchRequest, metadata: Metadata): WatchClientStream {
  const m = coordinatorService.watch;
  return new ClientWatch(client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, req, metadata));
}

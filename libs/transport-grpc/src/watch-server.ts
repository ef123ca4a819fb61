/**
 * The server side of Watch, a server-streaming call: the handler gets it as a WatchStream whose
 * onClose fires once, when the client cancels, its connection drops, or the call ends. Who may
 * watch is the call guard's 'read' access, as for Status: any certificate of the job, or the job
 * token.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { CoordinatorHandlers, ServeSecurity, WatchStream } from '@permafrost/coordinator';
import type { WatchRequest, WatchResponse } from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';
import { authorize } from './call-guard';
import { toServiceError } from './status';

class ServerWatch implements WatchStream {
  readonly peer: string;
  private readonly closeFns: (() => void)[] = [];
  private ended = false;
  private closed = false;

  constructor(private readonly call: ServerWritableStream<WatchRequest, WatchResponse>) {
    this.peer = call.getPeer();
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
    call.on('error', () => this.close());
  }

  onClose(fn: () => void): void {
    if (this.closed) queueMicrotask(fn);
    else this.closeFns.push(fn);
  }

  send(e: WatchResponse): void {
    if (this.ended || this.call.cancelled) return;
    this.call.write(e);
  }

  end(error?: PermafrostError): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.call.cancelled) {
      // as for the Session: grpc-js takes a non-OK status on a server stream as an emitted error
      if (error) this.call.emit('error', toServiceError(error));
      else this.call.end();
    }
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.closeFns.splice(0)) fn();
  }
}

export function openWatch(
  call: ServerWritableStream<WatchRequest, WatchResponse>,
  handlers: CoordinatorHandlers,
  security: ServeSecurity,
): void {
  try {
    const caller = authorize('read', 'Watch', call, security);
    if (!handlers.watch) throw new PermafrostError('unimplemented', 'this coordinator does not serve Watch');
    handlers.watch(call.request, new ServerWatch(call), caller);
  } catch (e) {
    call.emit('error', toServiceError(e));
  }
}

/**
 * The worker's side of CoordinatorService. Unary calls carry a deadline and fail with an
 * PermafrostError of the status's code ('unavailable' while nothing listens yet, which Join retries
 * on). The Session stream has no deadline: it lives as long as the job, and its end, whether
 * the coordinator finished it, refused it or vanished, reaches onClose exactly once.
 */
import { Client, type ClientDuplexStream, Metadata, type MethodDefinition, type StatusObject, status } from '@grpc/grpc-js';
import type { CoordinatorClient, SessionClientStream } from '@permafrost/coordinator';
import type { SessionRequest, SessionResponse } from '@permafrost/proto';
import type { TlsFiles } from '@permafrost/security';
import { PermafrostError } from '@permafrost/telemetry';
import { CHANNEL_OPTIONS } from './grpc-setup';
import { coordinatorService } from './services';
import { fromServiceError, rpcCode } from './status';
import { StreamEvents } from './stream-events';
import { channelCredentials } from './tls-credentials';
import { openWatchCall } from './watch-client';

class ClientSession implements SessionClientStream {
  private readonly events = new StreamEvents<SessionResponse>();
  private ended = false;

  constructor(private readonly call: ClientDuplexStream<SessionRequest, SessionResponse>) {
    call.on('data', (m: SessionResponse) => this.events.message(m));
    // A failed call emits 'error' and then 'status'; either is the end, whichever comes first.
    // grpc-js emits the status only after the messages before it, so none is lost.
    call.on('error', (e: Error) => this.events.close(fromServiceError(e)));
    call.on('status', (s: StatusObject) =>
      this.events.close(s.code === status.OK ? undefined : new PermafrostError(rpcCode(s.code), s.details)),
    );
  }

  send(m: SessionRequest): void {
    if (this.ended || this.events.isClosed) return;
    this.call.write(m);
  }

  onMessage(fn: (m: SessionResponse) => void): void {
    this.events.onMessage(fn);
  }

  onClose(fn: (error: Error | undefined) => void): void {
    this.events.onClose(fn);
  }

  /** Half-closes: the coordinator sees the end and completes the call, which fires onClose. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.events.isClosed) this.call.end();
  }
}

export interface CoordinatorClientSecurity {
  /** the job CA, and this client's certificate and key (a tool with the token needs only the CA) */
  tls?: Pick<TlsFiles, 'ca'> & Partial<Pick<TlsFiles, 'cert' | 'key'>>;
  /** the job token, sent with Status and Watch */
  token?: string;
}

/**
 * A client for the coordinator at `address` ('HOST:PORT'), over TLS checking that the server holds
 * the job's coordinator certificate when `security.tls` is given. Connects lazily, on the first call.
 */
export function createCoordinatorClient(address: string, security: CoordinatorClientSecurity = {}): CoordinatorClient {
  const creds = channelCredentials(security.tls && { files: security.tls, serverRole: 'coordinator' });
  const client = new Client(address, creds, CHANNEL_OPTIONS);
  const metadata = (withToken: boolean) => {
    const md = new Metadata();
    if (withToken && security.token !== undefined) md.set('authorization', `Bearer ${security.token}`);
    return md;
  };

  const unary = <Req, Res>(m: MethodDefinition<Req, Res>, req: Req, timeoutMs: number) =>
    new Promise<Res>((done, fail) => {
      client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        req,
        metadata(m === (coordinatorService.status as unknown)),
        { deadline: Date.now() + timeoutMs },
        (err, res) => {
          if (err) fail(fromServiceError(err));
          else if (res === undefined) fail(new PermafrostError('internal', `${m.path} returned no response`));
          else done(res);
        },
      );
    });

  return {
    join: (req, timeoutMs) => unary(coordinatorService.join, req, timeoutMs),
    leave: (req, timeoutMs) => unary(coordinatorService.leave, req, timeoutMs),
    status: (req, timeoutMs) => unary(coordinatorService.status, req, timeoutMs),
    session: () => {
      const m = coordinatorService.session;
      return new ClientSession(client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, new Metadata()));
    },
    watch: (req) => openWatchCall(client, req, metadata(true)),
    close: () => client.close(),
  };
}

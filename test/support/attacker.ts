/**
 * What a stranger on loopback can try against a running job, as test helpers: control-plane calls
 * with whatever credentials it holds, raw bytes at a data port, and a chunk at a Peer service. Each resolves with the
 * outcome (the response, or the PermafrostError code and message), never throws.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { CoordinatorClient } from '@permafrost/coordinator';
import {
  ExchangeRequestSchema,
  ExchangeResponseSchema,
  JoinRequestSchema,
  LeaveRequestSchema,
  SessionRequestSchema,
  StatusRequestSchema,
} from '@permafrost/proto';
import { readTlsFiles, type TlsFiles } from '@permafrost/security';
import { PermafrostError } from '@permafrost/telemetry';
import { type CoordinatorClientSecurity, createCoordinatorClient } from '@permafrost/transport-grpc';

export type Outcome<T> = { ok: T } | { code: string; message: string };

async function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await p };
  } catch (e) {
    return e instanceof PermafrostError ? { code: e.code, message: e.message } : { code: 'thrown', message: String(e) };
  }
}

/** A client of the coordinator at `address` with `security`; `close()` when done. */
export function attacker(address: string, security: CoordinatorClientSecurity) {
  const client: CoordinatorClient = createCoordinatorClient(address, security);
  return {
    join: (workerId: string, jobId = '') =>
      outcome(client.join(create(JoinRequestSchema, { workerId, jobId, peerAddress: '127.0.0.1:9', dataAddress: '127.0.0.1:9' }), 5000)),
    leave: (workerId: string, membership?: { generation: bigint; jobId: string }) =>
      outcome(client.leave(create(LeaveRequestSchema, { workerId, membership, reason: 'attack' }), 5000)),
    status: () => outcome(client.status(create(StatusRequestSchema, {}), 5000)),
    /** opens a Session as `workerId`, says Hello, and resolves with how the stream ended (or 'open' after 3 s) */
    session: (workerId: string, membership: { generation: bigint; jobId: string }) =>
      new Promise<string>((done) => {
        const s = client.session();
        const timer = setTimeout(() => {
          s.end();
          done('open');
        }, 3000);
        s.onClose((e) => {
          clearTimeout(timer);
          done(e ? `${(e as PermafrostError).code}: ${e.message}` : 'ended');
        });
        s.send(create(SessionRequestSchema, { membership, workerId, event: { case: 'hello', value: { modelInfoJson: '{}' } } }));
      }),
    close: () => client.close(),
  };
}

/**
 * Writes `bytes` to `address` (HOST:PORT), plaintext or over TLS with the certificate files `tls`
 * (written once the handshake is done), and collects the answer until the server closes (or 5 s).
 */
export function probe(address: string, bytes: Buffer, tls?: TlsFiles): Promise<{ answer: Buffer; closed: boolean }> {
  const i = address.lastIndexOf(':');
  return new Promise((done) => {
    const got: Buffer[] = [];
    const to = { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
    const s: Socket = tls
      ? tlsConnect({ ...to, ...readTlsFiles(tls), servername: 'localhost', checkServerIdentity: () => undefined })
      : netConnect(to);
    const timer = setTimeout(() => {
      s.destroy();
      done({ answer: Buffer.concat(got), closed: false });
    }, 5000);
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      done({ answer: Buffer.concat(got), closed: true });
    });
    if (tls) s.once('secureConnect', () => s.write(bytes));
    else s.write(bytes);
  });
}

/**
 * Sends one chunk of collective 1 from rank `fromRank` of `membership` to the Peer service at
 * `address`, over TLS with the certificate files `tls` (any server certificate accepted), and
 * resolves with the chunk count the receiver answered, or the status it ended the stream with
 * (the code as PermafrostError spells it, e.g. 'permission-denied').
 */
export function exchangeAs(
  address: string,
  tls: TlsFiles,
  fromRank: number,
  membership: { generation: bigint; jobId: string },
): Promise<Outcome<number>> {
  const { ca, cert, key } = readTlsFiles(tls);
  const creds = credentials.createSsl(Buffer.from(ca), Buffer.from(key), Buffer.from(cert), { checkServerIdentity: () => undefined });
  const client = new Client(address, creds);
  const data = Buffer.from(new Float32Array([1, 2]).buffer);
  const chunk = create(ExchangeRequestSchema, { membership, fromRank, sequence: 1n, data, totalElements: 2n });
  return new Promise((done) => {
    const call = client.makeClientStreamRequest(
      '/permafrost.v1.PeerService/Exchange',
      (m: typeof chunk) => Buffer.from(toBinary(ExchangeRequestSchema, m)),
      (b: Buffer) => fromBinary(ExchangeResponseSchema, b),
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (err: ServiceError | null, res?: { chunks: number }) => {
        client.close();
        if (err) done({ code: (status[err.code] ?? 'unknown').toLowerCase().replace(/_/g, '-'), message: err.details });
        else done({ ok: res?.chunks ?? 0 });
      },
    );
    call.write(chunk);
    call.end();
  });
}

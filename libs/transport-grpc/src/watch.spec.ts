import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { CoordinatorClient, CoordinatorHandlers, CoordinatorServer, ServeSecurity, WatchStream } from '@permafrost/coordinator';
import {
  JoinResponseSchema,
  LeaveResponseSchema,
  StatusResponseSchema,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from '@permafrost/proto';
import { type CertsInitResult, initCertsDir } from '@permafrost/security';
import { PermafrostError } from '@permafrost/telemetry';
import { type CoordinatorClientSecurity, createCoordinatorClient } from './coordinator-client';
import { startCoordinatorServer } from './coordinator-server';

const TOKEN = 'a-job-token-of-32-characters-xyz';
const dir = mkdtempSync(join(tmpdir(), 'pf-watch-'));
let certs: CertsInitResult;
const servers: CoordinatorServer[] = [];
const clients: CoordinatorClient[] = [];

before(async () => {
  certs = await initCertsDir(join(dir, 'job'), { workers: 1, sans: [], days: 1, label: 'job' });
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

const files = (holder: string) => ({ ca: certs.ca, ...(certs.files[holder] as { cert: string; key: string }) });
const event = (step: number, state = 'running') => create(WatchResponseSchema, { status: { state }, globalStep: BigInt(step) });

/** Handlers whose Watch hands each stream to the test, in the order the calls arrive. */
function watching(): { handlers: CoordinatorHandlers; next: () => Promise<WatchStream> } {
  const arrived: WatchStream[] = [];
  const waiting: ((s: WatchStream) => void)[] = [];
  const handlers: CoordinatorHandlers = {
    join: async () => create(JoinResponseSchema, {}),
    session: () => undefined,
    leave: async () => create(LeaveResponseSchema, {}),
    status: async () => create(StatusResponseSchema, {}),
    watch: (_req, s) => {
      const w = waiting.shift();
      if (w) w(s);
      else arrived.push(s);
    },
  };
  const next = () => {
    const s = arrived.shift();
    return s ? Promise.resolve(s) : new Promise<WatchStream>((done) => waiting.push(done));
  };
  return { handlers, next };
}

async function serve(handlers: CoordinatorHandlers, security: ServeSecurity = {}): Promise<string> {
  const server = await startCoordinatorServer('127.0.0.1:0', handlers, security);
  servers.push(server);
  return security.tls ? server.address.replace('127.0.0.1', 'localhost') : server.address;
}

function watch(address: string, security: CoordinatorClientSecurity = {}) {
  const client = createCoordinatorClient(address, security);
  clients.push(client);
  const call = client.watch(create(WatchRequestSchema, {}));
  const events: WatchResponse[] = [];
  call.onEvent((e) => events.push(e));
  const closed = new Promise<Error | undefined>((done) => call.onClose(done));
  return { call, events, closed };
}

describe('Watch over gRPC', () => {
  it('streams the events in order and completes OK when the server ends the call', async () => {
    const w = watching();
    const address = await serve(w.handlers);
    const c = watch(address);
    const s = await w.next();
    for (const step of [1, 2, 3]) s.send(event(step));
    s.send(event(4, 'finished'));
    s.end();
    assert.equal(await c.closed, undefined);
    assert.deepEqual(
      c.events.map((e) => [Number(e.globalStep), e.status?.state]),
      [
        [1, 'running'],
        [2, 'running'],
        [3, 'running'],
        [4, 'finished'],
      ],
    );
  });

  it("the client's cancel reaches the server's onClose; the client sees 'cancelled'", async () => {
    const w = watching();
    const address = await serve(w.handlers);
    const c = watch(address);
    const s = await w.next();
    const serverClosed = new Promise<void>((done) => s.onClose(done));
    s.send(event(1));
    while (c.events.length === 0) await new Promise((r) => setTimeout(r, 10));
    c.call.cancel();
    await serverClosed;
    const e = await c.closed;
    assert.ok(e instanceof PermafrostError && e.code === 'cancelled', String(e));
    s.send(event(2)); // dropped, no throw
  });

  it("a handler's refusal is the call's status; a server without Watch answers UNIMPLEMENTED", async () => {
    const w = watching();
    w.handlers.watch = () => {
      throw new PermafrostError('resource-exhausted', 'too many');
    };
    const c = watch(await serve(w.handlers));
    const e = await c.closed;
    assert.ok(e instanceof PermafrostError && e.code === 'resource-exhausted' && e.message === 'too many', String(e));
    const { watch: _none, ...without } = w.handlers;
    const u = watch(await serve(without));
    const e2 = await u.closed;
    assert.ok(e2 instanceof PermafrostError && e2.code === 'unimplemented', String(e2));
  });

  it('access as for Status: the token over plaintext; a tool or worker certificate or the token over TLS', async () => {
    const w = watching();
    const plain = await serve(w.handlers, { token: TOKEN });
    const none = await watch(plain).closed;
    assert.ok(none instanceof PermafrostError && none.code === 'unauthenticated', String(none));
    const withToken = watch(plain, { token: TOKEN });
    (await w.next()).end();
    assert.equal(await withToken.closed, undefined);

    const tls = await serve(w.handlers, { tls: files('coordinator'), token: TOKEN });
    for (const security of [{ tls: files('tool') }, { tls: files('worker-0') }, { tls: { ca: certs.ca }, token: TOKEN }]) {
      const c = watch(tls, security);
      (await w.next()).end();
      assert.equal(await c.closed, undefined);
    }
    const anonymous = await watch(tls, { tls: { ca: certs.ca } }).closed;
    assert.ok(anonymous instanceof PermafrostError && anonymous.code === 'unauthenticated', String(anonymous));
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { CoordinatorClient, CoordinatorHandlers, CoordinatorServer, SessionStream } from '@permafrost/coordinator';
import {
  JoinResponseSchema,
  LeaveResponseSchema,
  type SessionRequest,
  SessionRequestSchema,
  type SessionResponse,
  SessionResponseSchema,
  StatusResponseSchema,
} from '@permafrost/proto';
import { PermafrostError } from '@permafrost/telemetry';
import { createCoordinatorClient } from './coordinator-client';
import { startCoordinatorServer } from './coordinator-server';

const servers: CoordinatorServer[] = [];
const clients: CoordinatorClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
});

const base: CoordinatorHandlers = {
  join: async (req) =>
    create(JoinResponseSchema, {
      membership: { generation: 3n, jobId: 'job' },
      rank: 1,
      worldSize: 2,
      peers: [{ rank: 1, workerId: req.workerId, address: req.peerAddress }],
      jobSpecJson: '{}',
      shards: [4, 9],
    }),
  session: () => undefined,
  leave: async () => create(LeaveResponseSchema, {}),
  status: async () => create(StatusResponseSchema, { state: 'running', epoch: 2 }),
};

async function serve(handlers: Partial<CoordinatorHandlers>): Promise<CoordinatorClient> {
  const server = await startCoordinatorServer('127.0.0.1:0', { ...base, ...handlers });
  servers.push(server);
  assert.match(server.address, /^127\.0\.0\.1:[1-9]\d*$/);
  const client = createCoordinatorClient(server.address);
  clients.push(client);
  return client;
}

const hello = (workerId: string) => create(SessionRequestSchema, { workerId, event: { case: 'hello', value: { modelInfoJson: '{}' } } });
const plan = (epoch: number) => create(SessionResponseSchema, { command: { case: 'epoch', value: { epoch, epochs: 3, steps: 10 } } });

/** A session handler that hands the stream to the test. */
function capture(): { handler: (s: SessionStream) => void; stream: Promise<SessionStream> } {
  let got: (s: SessionStream) => void = () => undefined;
  const stream = new Promise<SessionStream>((done) => {
    got = done;
  });
  return { handler: (s) => got(s), stream };
}

const closed = (s: { onClose(fn: (e: Error | undefined) => void): void }) => new Promise<Error | undefined>((done) => s.onClose(done));

const here = new URL('.', import.meta.url).pathname;

/** Runs an ES module snippet in a child Node process (with tsx, from the workspace root). */
function child(script: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((done) => proc.on('exit', done));
  const firstLine = new Promise<string>((done) => {
    let out = '';
    proc.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) done(out.split('\n')[0] as string);
    });
  });
  const kill = async () => {
    proc.kill('SIGKILL');
    await exited;
  };
  return { proc, firstLine, kill };
}

describe('coordinator unary calls', () => {
  it('round-trip Join, Leave and Status', async () => {
    const client = await serve({});
    const joined = await client.join(
      {
        $typeName: 'permafrost.v1.JoinRequest',
        workerId: 'w1',
        peerAddress: '127.0.0.1:7',
        dataAddress: '127.0.0.1:8',
        backend: 'cpu',
        jobId: '',
      },
      5000,
    );
    assert.equal(joined.membership?.generation, 3n);
    assert.equal(joined.rank, 1);
    assert.deepEqual(joined.shards, [4, 9]);
    assert.equal(joined.peers[0]?.address, '127.0.0.1:7');
    const left = await client.leave({ $typeName: 'permafrost.v1.LeaveRequest', workerId: 'w1', reason: 'done' }, 5000);
    assert.equal(left.$typeName, 'permafrost.v1.LeaveResponse');
    const status = await client.status({ $typeName: 'permafrost.v1.StatusRequest' }, 5000);
    assert.equal(status.state, 'running');
    assert.equal(status.epoch, 2);
  });

  it('delivers a handler PermafrostError with its code and message; other throws become internal', async () => {
    const client = await serve({
      join: async (req) => {
        if (req.workerId === 'dup') throw new PermafrostError('already-exists', "worker 'dup' already joined");
        throw new PermafrostError('failed-precondition', 'the job has started');
      },
      status: () => {
        throw new Error('boom');
      },
    });
    const join = (workerId: string) =>
      client.join({ $typeName: 'permafrost.v1.JoinRequest', workerId, peerAddress: '', dataAddress: '', backend: '', jobId: '' }, 5000);
    await assert.rejects(
      join('dup'),
      (e) => e instanceof PermafrostError && e.code === 'already-exists' && e.message === "worker 'dup' already joined",
    );
    await assert.rejects(
      join('late'),
      (e) => e instanceof PermafrostError && e.code === 'failed-precondition' && e.message === 'the job has started',
    );
    await assert.rejects(
      client.status({ $typeName: 'permafrost.v1.StatusRequest' }, 5000),
      (e) => e instanceof PermafrostError && e.code === 'internal' && /boom/.test(e.message),
    );
  });

  it("reports 'deadline-exceeded' when the handler is slower than the deadline", async () => {
    const client = await serve({ status: () => new Promise((done) => setTimeout(() => done(create(StatusResponseSchema, {})), 500)) });
    await assert.rejects(
      client.status({ $typeName: 'permafrost.v1.StatusRequest' }, 50),
      (e) => e instanceof PermafrostError && e.code === 'deadline-exceeded',
    );
  });

  it("reports 'unavailable' when nothing listens", async () => {
    const probe = createServer();
    const port = await new Promise<number>((done) => probe.listen(0, '127.0.0.1', () => done((probe.address() as { port: number }).port)));
    await new Promise((done) => probe.close(done));
    const client = createCoordinatorClient(`127.0.0.1:${port}`);
    clients.push(client);
    const t0 = Date.now();
    await assert.rejects(
      client.status({ $typeName: 'permafrost.v1.StatusRequest' }, 5000),
      (e) => e instanceof PermafrostError && e.code === 'unavailable',
    );
    assert.ok(Date.now() - t0 < 3000, 'fails fast, not at the deadline');
  });
});

describe('coordinator session stream', () => {
  it('carries messages both ways, in order, and a client end closes both sides with OK', async () => {
    const cap = capture();
    const client = await serve({ session: cap.handler });
    const s = client.session();
    const down: SessionResponse[] = [];
    s.onMessage((m) => down.push(m));
    const clientClosed = closed(s);
    for (const id of ['a', 'b', 'c']) s.send(hello(id));
    const server = await cap.stream;
    assert.match(server.peer, /127\.0\.0\.1/);
    const up: SessionRequest[] = [];
    const allUp = new Promise<void>((done) =>
      server.onMessage((m) => {
        up.push(m);
        if (up.length === 3) done();
      }),
    );
    await allUp;
    assert.deepEqual(
      up.map((m) => m.workerId),
      ['a', 'b', 'c'],
    );
    for (const e of [1, 2, 3]) server.send(plan(e));
    const serverClosed = closed(server);
    await new Promise((done) => setTimeout(done, 100));
    s.end();
    assert.equal(await serverClosed, undefined);
    assert.equal(await clientClosed, undefined);
    assert.deepEqual(
      down.map((m) => (m.command.case === 'epoch' ? m.command.value.epoch : -1)),
      [1, 2, 3],
    );
  });

  it('ends the stream with the PermafrostError the server gives, after the messages before it', async () => {
    const client = await serve({
      session: (stream) =>
        stream.onMessage(() => {
          stream.send(plan(7));
          stream.end(new PermafrostError('failed-precondition', 'generation 7 is not the current generation 1'));
        }),
    });
    const s = client.session();
    const down: SessionResponse[] = [];
    s.onMessage((m) => down.push(m));
    const result = closed(s);
    s.send(hello('w'));
    const error = await result;
    assert.ok(error instanceof PermafrostError);
    assert.equal(error.code, 'failed-precondition');
    assert.equal(error.message, 'generation 7 is not the current generation 1');
    assert.equal(down.length, 1);
    // sending after the end is harmless
    s.send(hello('w'));
    s.end();
  });

  it('fires onClose exactly once on each side when the server ends it with OK', async () => {
    const cap = capture();
    const client = await serve({ session: cap.handler });
    const s = client.session();
    let clientCalls = 0;
    s.onClose(() => clientCalls++);
    const clientClosed = closed(s);
    s.send(hello('w'));
    const server = await cap.stream;
    let serverCalls = 0;
    server.onClose(() => serverCalls++);
    server.end();
    server.end(new PermafrostError('internal', 'ignored: already ended'));
    assert.equal(await clientClosed, undefined);
    await new Promise((done) => setTimeout(done, 100));
    assert.equal(clientCalls, 1);
    assert.equal(serverCalls, 1);
  });

  it("fires the server's onClose promptly when the client process is killed", async () => {
    const cap = capture();
    const client = await serve({ session: cap.handler });
    client.close();
    const address = servers.at(-1)?.address as string;
    // The child opens a session, says hello and then waits to be killed.
    const c = child(`
      const { createCoordinatorClient } = await import(${JSON.stringify(`${here}coordinator-client.ts`)});
      const { create } = await import('@bufbuild/protobuf');
      const { SessionRequestSchema } = await import('@permafrost/proto');
      const s = createCoordinatorClient(${JSON.stringify(address)}).session();
      s.send(create(SessionRequestSchema, { workerId: 'child', event: { case: 'hello', value: {} } }));
      setInterval(() => undefined, 1000);
    `);
    try {
      const server = await cap.stream;
      const serverClosed = closed(server);
      await new Promise<void>((done) => server.onMessage(() => done()));
      const t0 = Date.now();
      c.proc.kill('SIGKILL');
      const error = await serverClosed;
      assert.ok(error instanceof PermafrostError, `closed with ${String(error)}`);
      assert.ok(Date.now() - t0 < 2000, `noticed after ${Date.now() - t0} ms`);
    } finally {
      await c.kill();
    }
  });

  it("fires the client's onClose with 'unavailable' promptly when the coordinator process is killed", async () => {
    // The child serves a coordinator whose sessions stay open, and prints its address.
    const c = child(`
      const { startCoordinatorServer } = await import(${JSON.stringify(`${here}coordinator-server.ts`)});
      const never = () => new Promise(() => undefined);
      const server = await startCoordinatorServer('127.0.0.1:0', { join: never, leave: never, status: never, session: () => undefined });
      console.log(server.address);
    `);
    try {
      const client = createCoordinatorClient(await c.firstLine);
      clients.push(client);
      const s = client.session();
      const clientClosed = closed(s);
      s.send(hello('w'));
      await new Promise((done) => setTimeout(done, 200));
      const t0 = Date.now();
      c.proc.kill('SIGKILL');
      const error = await clientClosed;
      assert.ok(error instanceof PermafrostError, `closed with ${String(error)}`);
      assert.equal(error.code, 'unavailable');
      assert.ok(Date.now() - t0 < 2000, `noticed after ${Date.now() - t0} ms`);
    } finally {
      await c.kill();
    }
  });

  it("fires the client's onClose when the server closes with the session open", async () => {
    const cap = capture();
    const client = await serve({ session: cap.handler });
    const s = client.session();
    const clientClosed = closed(s);
    s.send(hello('w'));
    await cap.stream;
    const t0 = Date.now();
    // forced after the grace period: the session is still open
    await servers.pop()?.close();
    const error = await clientClosed;
    assert.ok(error instanceof PermafrostError, `closed with ${String(error)}`);
    assert.ok(['unavailable', 'cancelled'].includes(error.code), error.code);
    assert.ok(Date.now() - t0 < 3000);
  });
});

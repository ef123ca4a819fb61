import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { CoordinatorHandlers, SessionStream } from '@permafrost/coordinator';
import { JoinResponseSchema, LeaveResponseSchema, StatusRequestSchema, StatusResponseSchema } from '@permafrost/proto';
import { silentClient as silent } from '@permafrost/transport-tcp/testing';
import { createCoordinatorClient } from './coordinator-client';
import { startCoordinatorServer } from './coordinator-server';

const handlers = (sessions: SessionStream[] = []): CoordinatorHandlers => ({
  join: async () => create(JoinResponseSchema, {}),
  session: (s) => {
    sessions.push(s);
  },
  leave: async () => create(LeaveResponseSchema, {}),
  status: async () => create(StatusResponseSchema, { state: 'running' }),
});

describe('gRPC servers against strangers', () => {
  it('cut a connection that opens no call within handshakeTimeoutMs, and keep a client that calls', async () => {
    const sessions: SessionStream[] = [];
    const server = await startCoordinatorServer('127.0.0.1:0', handlers(sessions), {}, { handshakeTimeoutMs: 200 });
    const client = createCoordinatorClient(server.address);
    try {
      const t0 = Date.now();
      const mute = await silent(server.address);
      const session = client.session();
      let ended: Error | undefined | null = null;
      session.onClose((e) => {
        ended = e;
      });
      const cutAt = await mute.closed;
      assert.ok(cutAt - t0 >= 190 && cutAt - t0 < 2000, `cut after ${cutAt - t0} ms`);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(ended, null, 'the session is still open');
      assert.equal(sessions.length, 1);
      assert.equal((await client.status(create(StatusRequestSchema, {}), 2000)).state, 'running');
    } finally {
      client.close();
      await server.close();
    }
  });

  it('hold at most maxPendingConnections that have not called, the oldest cut first', async () => {
    const server = await startCoordinatorServer('127.0.0.1:0', handlers(), {}, { maxPendingConnections: 3 });
    try {
      const strangers = [];
      for (let i = 0; i < 5; i++) strangers.push(await silent(server.address));
      await Promise.all(strangers.slice(0, 2).map((s) => s.closed));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        strangers.map((s) => s.socket.destroyed),
        [true, true, false, false, false],
      );
    } finally {
      await server.close();
    }
  });

  it('close at once with silent connections, and within the grace period with a call open', async () => {
    const server = await startCoordinatorServer('127.0.0.1:0', handlers());
    const strangers = await Promise.all(Array.from({ length: 20 }, () => silent(server.address)));
    const client = createCoordinatorClient(server.address);
    try {
      assert.equal((await client.status(create(StatusRequestSchema, {}), 2000)).state, 'running');
      const t0 = Date.now();
      await server.close();
      assert.ok(Date.now() - t0 < 300, `close took ${Date.now() - t0} ms`);
      await Promise.all(strangers.map((s) => s.closed));
    } finally {
      client.close();
    }
    const busy = await startCoordinatorServer('127.0.0.1:0', handlers());
    const worker = createCoordinatorClient(busy.address);
    try {
      worker.session();
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      await busy.close();
      assert.ok(Date.now() - t0 < 1500, `close took ${Date.now() - t0} ms`);
    } finally {
      worker.close();
    }
  });
});

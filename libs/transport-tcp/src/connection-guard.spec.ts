import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { ConnectionGuard } from './connection-guard';
import { startDataServer } from './data-server';
import { encodeHello } from './protocol';
import { silentClient as silent } from './testing';

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A plain TCP server whose connections `guard` watches; `admitOnData`: a first byte completes the handshake. */
async function guarded(guard: ConnectionGuard, admitOnData = false): Promise<string> {
  const server = createServer((s) => {
    guard.accept(s);
    s.on('error', () => undefined);
    if (admitOnData) s.once('data', () => guard.admit(s));
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('connection guard', () => {
  it('cuts a connection that does not complete its handshake in time, and keeps one that does', async () => {
    const guard = new ConnectionGuard('test', { handshakeTimeoutMs: 150 });
    const address = await guarded(guard, true);
    const t0 = Date.now();
    const mute = await silent(address);
    const talker = await silent(address);
    talker.socket.write('x');
    const cutAt = await mute.closed;
    assert.ok(cutAt - t0 >= 140 && cutAt - t0 < 1500, `cut after ${cutAt - t0} ms`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(talker.socket.destroyed, false);
    assert.equal(guard.pendingCount, 0);
    assert.equal(guard.openCount, 1);
    guard.destroyAll();
    await talker.closed;
  });

  it('holds at most maxPendingConnections: the oldest goes first', async () => {
    const guard = new ConnectionGuard('test', { handshakeTimeoutMs: 60_000, maxPendingConnections: 2 });
    const address = await guarded(guard);
    const first = await silent(address);
    const second = await silent(address);
    const third = await silent(address);
    await first.closed;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(second.socket.destroyed, false);
    assert.equal(third.socket.destroyed, false);
    assert.equal(guard.pendingCount, 2);
    guard.destroyPending();
    await Promise.all([second.closed, third.closed]);
  });

  it('refuses options without units that make sense', () => {
    assert.throws(() => new ConnectionGuard('test', { handshakeTimeoutMs: 0 }), /handshakeTimeoutMs/);
    assert.throws(() => new ConnectionGuard('test', { maxPendingConnections: 0 }), /maxPendingConnections/);
  });
});

describe('data server against strangers', () => {
  it('closes a connection that sends no HELLO within handshakeTimeoutMs, and one parked too long', async () => {
    const server = await startDataServer({ listen: '127.0.0.1:0', handshakeTimeoutMs: 150, connectTimeoutMs: 400 });
    try {
      const t0 = Date.now();
      const mute = await silent(server.address);
      // a HELLO of a generation this server never reaches waits for it, but not for ever
      const parked = await silent(server.address);
      parked.socket.write(encodeHello({ generation: 9n, from: 0, to: 1, workerId: 'w' }));
      const muteAt = await mute.closed;
      assert.ok(muteAt - t0 < 1500, `mute connection cut after ${muteAt - t0} ms`);
      assert.equal(parked.socket.destroyed, false);
      const parkedAt = await parked.closed;
      assert.ok(parkedAt - t0 >= 380 && parkedAt - t0 < 2500, `parked connection cut after ${parkedAt - t0} ms`);
    } finally {
      await server.close();
    }
  });

  it('closes at once when strangers hold connections that never speak', async () => {
    const server = await startDataServer({ listen: '127.0.0.1:0' });
    const strangers = await Promise.all(Array.from({ length: 20 }, () => silent(server.address)));
    const t0 = Date.now();
    await server.close();
    assert.ok(Date.now() - t0 < 300, `close took ${Date.now() - t0} ms`);
    await Promise.all(strangers.map((s) => s.closed));
  });
});

import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { CollectiveError, type Transport } from '@permafrost/collective';
import { chunk, transportContract } from '@permafrost/collective/testing';
import { type PeerServer, startPeerServer } from './peer-server';

const open: PeerServer[] = [];
after(async () => {
  await Promise.all(open.map((s) => s.close()));
});

/** n PeerServers on loopback and one transport per rank; `generations[r]` overrides rank r's generation. */
async function ring(n: number, generations: bigint[] = []): Promise<{ servers: PeerServer[]; transports: Transport[] }> {
  const servers = await Promise.all(Array.from({ length: n }, () => startPeerServer({ listen: '127.0.0.1:0' })));
  open.push(...servers);
  const addresses = servers.map((s) => s.address);
  const transports = servers.map((s, r) => s.transport(r, n, addresses, generations[r] ?? 1n));
  return { servers, transports };
}

async function closeAll(servers: PeerServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.close()));
  for (const s of servers) open.splice(open.indexOf(s), 1);
}

transportContract('PeerTransport', async (n) => {
  const { servers, transports } = await ring(n);
  return {
    transports,
    stop: (r) => closeAll(servers.filter((s, i) => i === r && open.includes(s))),
    close: () => closeAll(servers.filter((s) => open.includes(s))),
  };
});

describe('peer transport', () => {
  it('refuses a sender of another generation, naming both generations, and the sender gives up at once', async () => {
    const { servers, transports } = await ring(2, [1n, 2n]);
    const t0 = transports[0] as Transport;
    try {
      const send = t0.openSend(1, 1, 5000);
      send.write(chunk(1, [1]));
      const t = Date.now();
      await assert.rejects(
        t0.recv(1, 1, 5000),
        (e) =>
          e instanceof CollectiveError &&
          /failed-precondition/.test(e.message) &&
          /generation 1/.test(e.message) &&
          /generation 2/.test(e.message),
      );
      assert.ok(Date.now() - t < 2000, `gave up after ${Date.now() - t} ms`);
      await assert.rejects(send.flush(), CollectiveError);
    } finally {
      await closeAll(servers);
    }
  });

  it('refuses a late chunk of a collective the receiver has moved past', async () => {
    const { servers, transports } = await ring(2);
    const [t0, t1] = transports as [Transport, Transport];
    try {
      await t1.recv(0, 1, 50).catch(() => undefined);
      const next = t1.recv(0, 2, 5000);
      const late = t0.openSend(1, 1, 5000);
      late.write(chunk(1, [9]));
      await assert.rejects(t0.recv(1, 1, 5000), /moved on to collective 2/);
      await assert.rejects(late.flush(), /moved on to collective 2/);
      const send = t0.openSend(1, 2, 5000);
      send.write(chunk(2, [7]));
      await send.flush();
      assert.deepEqual(Array.from((await next).data), [7]);
    } finally {
      await closeAll(servers);
    }
  });

  it('fails a send that cannot drain at the collective deadline', async () => {
    // a peer that accepts the connection and never speaks HTTP/2: nothing written can leave
    const sockets: Socket[] = [];
    const mute = createServer((socket) => sockets.push(socket));
    await new Promise<void>((done) => mute.listen(0, '127.0.0.1', done));
    const server = await startPeerServer({ listen: '127.0.0.1:0' });
    open.push(server);
    try {
      const t = server.transport(0, 2, [server.address, `127.0.0.1:${(mute.address() as AddressInfo).port}`], 1n);
      const send = t.openSend(1, 1, 300);
      send.write(chunk(1, [1]));
      const t0 = Date.now();
      await assert.rejects(send.flush(), (e) => e instanceof CollectiveError && /timed out after 300 ms/.test(e.message));
      assert.ok(Date.now() - t0 < 2000);
      await assert.rejects(t.recv(1, 1, 5000), /cannot complete/);
    } finally {
      await closeAll([server]);
      for (const socket of sockets) socket.destroy();
      mute.close();
    }
  });

  it('retires the old transport when a new membership begins', async () => {
    const { servers, transports } = await ring(2);
    try {
      const waiting = (transports[1] as Transport).recv(0, 1, 5000);
      const addresses = servers.map((s) => s.address);
      const fresh = (servers[1] as PeerServer).transport(0, 1, [addresses[1] as string], 2n);
      assert.equal(fresh.size, 1);
      await assert.rejects(waiting, /replaced by generation 2/);
    } finally {
      await closeAll(servers);
    }
  });
});

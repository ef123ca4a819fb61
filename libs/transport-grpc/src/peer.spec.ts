import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { type Chunk, CollectiveError, pairAllreduce, ringAllreduce, type Transport } from '@permafrost/collective';
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

function inputs(n: number, len: number, salt = 0): Float32Array[] {
  return Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => ((r + 1) * (i + 3) + salt) % 23));
}

function sum(xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs[0]?.length ?? 0);
  for (const x of xs) {
    for (let i = 0; i < x.length; i++) out[i] = (out[i] as number) + (x[i] as number);
  }
  return out;
}

const chunk = (sequence: number, values: number[], step = 0): Chunk => ({
  sequence,
  signature: 'sig',
  step,
  segment: 0,
  offset: 0,
  totalElements: 100,
  data: Float32Array.from(values),
});

describe('ring allreduce over PeerServers', () => {
  for (const [n, len, chunkElements] of [
    [2, 1000, 64],
    [3, 10_007, 100],
    [4, 4099, 33],
    [4, 3, 1],
  ] as const) {
    it(`sums ${len} elements over ${n} ranks in chunks of ${chunkElements}`, async () => {
      const { servers, transports } = await ring(n);
      try {
        // two collectives back to back on the same transports: sequence numbers keep them apart
        for (const sequence of [1, 2]) {
          const xs = inputs(n, len, sequence);
          const want = sum(xs);
          await Promise.all(
            transports.map((t, r) =>
              ringAllreduce(xs[r] as Float32Array, t, { sequence, signature: 'sig', chunkElements, timeoutMs: 10_000 }),
            ),
          );
          for (const x of xs) assert.deepEqual(x, want);
        }
      } finally {
        await closeAll(servers);
      }
    });
  }
});

describe('pair allreduce over PeerServers', () => {
  it('sums two ranks by one exchange, collective after collective on the same streams', async () => {
    const { servers, transports } = await ring(2);
    try {
      for (const sequence of [1, 2, 3]) {
        const xs = inputs(2, 5000 + sequence, sequence);
        const want = sum(xs);
        await Promise.all(
          transports.map((t, r) => pairAllreduce(xs[r] as Float32Array, t, { sequence, signature: 'sig', chunkElements: 1024 })),
        );
        for (const x of xs) assert.deepEqual(x, want);
      }
    } finally {
      await closeAll(servers);
    }
  });
});

describe('peer transport', () => {
  it('delivers chunks in order, in place, and ends a collective when the next one begins', async () => {
    const { servers, transports } = await ring(2);
    const [t0, t1] = transports as [Transport, Transport];
    try {
      const send = t0.openSend(1, 5, 5000);
      send.write(chunk(5, [1, 2, 3]));
      send.write(chunk(5, [4], 1));
      send.write(chunk(5, [], 2));
      await send.flush();
      const got = [await t1.recv(0, 5, 5000), await t1.recv(0, 5, 5000), await t1.recv(0, 5, 5000)];
      assert.deepEqual(
        got.map((c) => [c.step, Array.from(c.data)]),
        [
          [0, [1, 2, 3]],
          [1, [4]],
          [2, []],
        ],
      );
      assert.equal(got[0]?.totalElements, 100);
      assert.ok(
        got.every((c) => c.data.byteOffset % 4 === 0),
        'received data is an aligned array',
      );
      // the same stream carries the next collective, which ends this one: asking for more fails at once
      const past = t1.recv(0, 5, 5000);
      const next = t0.openSend(1, 6, 5000);
      next.write(chunk(6, [5]));
      await next.flush();
      await assert.rejects(past, (e) => e instanceof CollectiveError && /ended after 3 chunks/.test(e.message));
      assert.deepEqual(Array.from((await t1.recv(0, 6, 5000)).data), [5]);
    } finally {
      await closeAll(servers);
    }
  });

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

  it('fails a waiting receive fast when the sender aborts mid-collective', async () => {
    const { servers, transports } = await ring(2);
    const [t0, t1] = transports as [Transport, Transport];
    try {
      const send = t0.openSend(1, 1, 10_000);
      send.write(chunk(1, [1, 2]));
      await send.flush();
      assert.deepEqual(Array.from((await t1.recv(0, 1, 10_000)).data), [1, 2]);
      const waiting = t1.recv(0, 1, 10_000);
      const t = Date.now();
      send.abort(new Error('the local reduction failed'));
      await assert.rejects(waiting, (e) => e instanceof CollectiveError && /broke after 1 chunk/.test(e.message));
      assert.ok(Date.now() - t < 1000, `failed after ${Date.now() - t} ms, not at the timeout`);
      // and so does the next receive of that collective
      await assert.rejects(t1.recv(0, 1, 10_000), /broke/);
      await assert.rejects(send.flush(), /aborted: the local reduction failed/);
      // the next collective gets a new stream
      const again = t0.openSend(1, 2, 10_000);
      again.write(chunk(2, [3]));
      await again.flush();
      assert.deepEqual(Array.from((await t1.recv(0, 2, 10_000)).data), [3]);
    } finally {
      await closeAll(servers);
    }
  });

  it('fails every rank fast when one goes away mid-ring: the failure travels back around the ring', async () => {
    const { servers, transports } = await ring(3);
    try {
      const xs = inputs(3, 50_000);
      // Rank 2 never joins the collective and shuts down. Rank 1's sends to it fail, so rank 1
      // gives up and refuses rank 0's stream, so rank 0 gives up too: nobody waits for the timeout.
      const t = Date.now();
      const runs = [0, 1].map((r) =>
        ringAllreduce(xs[r] as Float32Array, transports[r] as Transport, {
          sequence: 1,
          signature: 'sig',
          chunkElements: 1000,
          timeoutMs: 10_000,
        }),
      );
      await closeAll([servers[2] as PeerServer]);
      const results = await Promise.allSettled(runs);
      for (const r of results)
        assert.ok(r.status === 'rejected' && r.reason instanceof CollectiveError, String(r.status === 'rejected' && r.reason));
      assert.ok(Date.now() - t < 3000, `failed after ${Date.now() - t} ms`);
    } finally {
      await closeAll(servers.filter((s) => open.includes(s)));
    }
  });

  it('times out a receive nobody sends to, and refuses a late chunk of an abandoned collective', async () => {
    const { servers, transports } = await ring(2);
    const [t0, t1] = transports as [Transport, Transport];
    try {
      await assert.rejects(t1.recv(0, 1, 100), (e) => e instanceof CollectiveError && /timed out after 100 ms/.test(e.message));
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

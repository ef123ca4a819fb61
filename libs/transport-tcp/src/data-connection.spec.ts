import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { CollectiveError, type Transport } from '@permafrost/collective';
import { chunk, transportContract } from '@permafrost/collective/testing';
import { type DataServer, startDataServer } from './data-server';
import { ring } from './test-ring';

const quick = (t0: number, ms: number) => assert.ok(Date.now() - t0 < ms, `took ${Date.now() - t0} ms`);

transportContract('TcpTransport, values through shared memory', ring);
transportContract('TcpTransport, values over TCP', (n) => ring(n, [], { sharedMemoryBytes: 0 }));

describe('tcp data connections', () => {
  it('turns away a receiver of an older generation, naming both, and waits for it to enter the current one', async () => {
    const tcp = await ring(2, [3n, 1n]);
    const [t0, t1] = tcp.transports as [Transport, Transport];
    try {
      const send = t0.openSend(1, 1, 5000);
      send.write(chunk(1, [1]));
      const flushed = send.flush();
      const t = Date.now();
      // rank 1 (generation 1) asks rank 0 (generation 3) for its data and is turned away at once
      await assert.rejects(
        t1.recv(0, 1, 5000),
        (e) =>
          e instanceof CollectiveError &&
          /rank 0 at .* refused the data connection from rank 1: generation 1 is not the current generation 3/.test(e.message),
      );
      quick(t, 1000);
      // the receiver is behind, not gone (its Regroup is on its way): rank 0's send still waits
      await new Promise((r) => setTimeout(r, 100));
      const server1 = tcp.servers[1] as DataServer;
      const current = server1.transport(1, 2, tcp.addresses, ['worker-0', 'worker-1'], 3n);
      assert.deepEqual(Array.from((await current.recv(0, 1, 5000)).data), [1]);
      await flushed;
    } finally {
      await tcp.close();
    }
  });

  it('lets a neighbour finish the last collective when a rank that is done closes its server', async () => {
    const tcp = await ring(2);
    const [t0, t1] = tcp.transports as [Transport, Transport];
    try {
      // rank 0 has sent all it will send to rank 1, but still waits for rank 1's part
      const s0 = t0.openSend(1, 1, 5000);
      s0.write(chunk(1, [1, 2]));
      const s1 = t1.openSend(0, 1, 5000);
      s1.write(chunk(1, [3, 4]));
      await s1.flush();
      assert.deepEqual(Array.from((await t1.recv(0, 1, 5000)).data), [1, 2]);
      // rank 1 is done and shuts down
      await tcp.stop(1);
      assert.deepEqual(Array.from((await t0.recv(1, 1, 5000)).data), [3, 4]);
      await s0.flush();
    } finally {
      await tcp.close();
    }
  });

  it("refuses a worker id that is not the rank's with a refusal naming no worker, and changes nothing on the sender", async () => {
    const [s0, s1] = await Promise.all([startDataServer({ listen: '127.0.0.1:0' }), startDataServer({ listen: '127.0.0.1:0' })]);
    try {
      const addresses = [s0.address, s1.address];
      const t0 = s0.transport(0, 2, addresses, ['impostor', 'worker-1'], 1n);
      const t1 = s1.transport(1, 2, addresses, ['worker-0', 'worker-1'], 1n);
      // rank 0 asks rank 1 for its data as 'impostor'
      const send = t1.openSend(0, 1, 10_000);
      send.write(chunk(1, [1]));
      const refused = await t0.recv(1, 1, 5000).then(
        () => assert.fail('received from a sender that refused it'),
        (e: Error) => e.message,
      );
      assert.match(refused, /rank 1 at .* refused the data connection from rank 0: not admitted: /);
      assert.doesNotMatch(refused.replace(/^.*not admitted: /, ''), /worker-|impostor|rank/);
      // the stranger failed nothing on rank 1: the worker of rank 0 connects and takes the data
      const real = s0.transport(0, 2, addresses, ['worker-0', 'worker-1'], 1n);
      await send.flush();
      assert.deepEqual(Array.from((await real.recv(1, 1, 5000)).data), [1]);
    } finally {
      await Promise.all([s0.close(), s1.close()]);
    }
  });

  it('refuses a late chunk of a collective the receiver has moved past', async () => {
    const tcp = await ring(2);
    const [t0, t1] = tcp.transports as [Transport, Transport];
    try {
      await t1.recv(0, 1, 50).catch(() => undefined);
      const next = t1.recv(0, 2, 5000);
      const late = t0.openSend(1, 1, 5000);
      late.write(chunk(1, [9]));
      // the chunk may be with the kernel before the refusal arrives: flush() need not fail
      await late.flush().catch(() => undefined);
      await assert.rejects(t0.recv(1, 1, 5000), /refused collective 1: rank 1 has moved on to collective 2/);
      const send = t0.openSend(1, 2, 5000);
      send.write(chunk(2, [7]));
      await send.flush();
      assert.deepEqual(Array.from((await next).data), [7]);
    } finally {
      await tcp.close();
    }
  });

  it('fails a send to a peer that never answers: at the deadline, or at the connect timeout, saying where it stuck', async () => {
    const sockets: Socket[] = [];
    const mute = createServer((socket) => sockets.push(socket));
    await new Promise<void>((done) => mute.listen(0, '127.0.0.1', done));
    const muteAddress = `127.0.0.1:${(mute.address() as AddressInfo).port}`;
    const server = await startDataServer({ listen: '127.0.0.1:0', connectTimeoutMs: 400 });
    try {
      const t = server.transport(0, 2, [server.address, muteAddress], ['w0', 'w1'], 1n);
      const send = t.openSend(1, 1, 200);
      send.write(chunk(1, [1]));
      const t0 = Date.now();
      await assert.rejects(send.flush(), (e) => e instanceof CollectiveError && /timed out after 200 ms/.test(e.message));
      quick(t0, 1000);
      await assert.rejects(t.recv(1, 1, 5000), /cannot complete/);
      // the receiver never connects for the data
      const slow = t.openSend(1, 2, 5000);
      await assert.rejects(slow.flush(), /no data connection from rank 1 at .* within 400 ms/);
      // the sender never answers the handshake
      await assert.rejects(t.recv(1, 3, 5000), /connecting to rank 1 at .*: no answer to the handshake for 4\d\d ms/);
      // a receive whose deadline comes first says where opening its connection stands
      await assert.rejects(
        t.recv(1, 4, 150),
        /timed out after 150 ms waiting for collective 4 from rank 1: the data connection from rank 1 at .* is not open \(no answer to the handshake for 1\d\d ms\)/,
      );
      quick(t0, 1800);
    } finally {
      await server.close();
      for (const socket of sockets) socket.destroy();
      mute.close();
    }
  });

  it('fails sends and receives at once when nothing listens at the peer address', async () => {
    const server = await startDataServer({ listen: '127.0.0.1:0' });
    const gone = await startDataServer({ listen: '127.0.0.1:0' });
    await gone.close();
    try {
      const t = server.transport(0, 2, [server.address, gone.address], ['w0', 'w1'], 1n);
      const send = t.openSend(1, 1, 5000);
      send.write(chunk(1, [1]));
      const t0 = Date.now();
      await assert.rejects(send.flush(), /connecting to rank 1 at .* failed: .*ECONNREFUSED/);
      await assert.rejects(t.recv(1, 1, 5000), /connecting to rank 1 at .* failed: .*ECONNREFUSED/);
      quick(t0, 1000);
    } finally {
      await server.close();
    }
  });

  it('retires the old transport when a new membership begins', async () => {
    const tcp = await ring(2);
    try {
      const waiting = (tcp.transports[1] as Transport).recv(0, 1, 5000);
      const fresh = (tcp.servers[1] as (typeof tcp.servers)[number]).transport(0, 1, [tcp.addresses[1] as string], ['w'], 2n);
      assert.equal(fresh.size, 1);
      await assert.rejects(waiting, /replaced by generation 2/);
      // The old membership's sender learns that its receiver left it: the connection was open,
      // so a chunk may be with the kernel before the refusal arrives, but then the next send fails.
      const t0 = tcp.transports[0] as Transport;
      const t = Date.now();
      let failure: unknown;
      for (let sequence = 1; failure === undefined && Date.now() - t < 2000; sequence++) {
        const send = t0.openSend(1, sequence, 5000);
        send.write(chunk(sequence, [1]));
        failure = await send.flush().then(
          () => undefined,
          (e: unknown) => e,
        );
        // let the socket be read (a flush to a connected receiver may settle without any I/O)
        await new Promise((next) => setImmediate(next));
      }
      assert.match(String(failure), /rank 1 at .* refused collective 4294967295: generation 1 was replaced by generation 2/);
    } finally {
      await tcp.close();
    }
  });
});

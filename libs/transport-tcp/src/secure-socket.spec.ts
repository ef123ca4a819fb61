import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { chunk, transportContract } from '@permafrost/collective/testing';
import { type EphemeralCertificates, ephemeralCertificates, readTlsFiles } from '@permafrost/security';
import { rotatingCertificates } from '@permafrost/security/testing';
import { type DataServer, startDataServer } from './data-server';
import { encodeHello } from './protocol';
import { createDataServer, dataTlsOf, reloadOnChange } from './secure-socket';
import { ring } from './test-ring';
import { silentClient } from './testing';

// the data servers look at their certificate files every 50 ms (a minute by default)
process.env.PERMAFROST_CERT_REFRESH_MS = '50';

let job: EphemeralCertificates;
let stranger: EphemeralCertificates;
const ready = (async () => {
  job = await ephemeralCertificates(1, 'job');
  stranger = await ephemeralCertificates(1, 'stranger');
})();
before(() => ready);
after(async () => {
  await ready;
  await Promise.all([job.remove(), stranger.remove()]);
});

transportContract('TcpTransport over mutual TLS', async (n) => {
  await ready;
  return ring(n, [], { tls: job.worker(0), sharedMemoryBytes: 0 });
});
transportContract('TcpTransport over mutual TLS, values through shared memory', async (n) => {
  await ready;
  return ring(n, [], { tls: job.worker(0) });
});

/** Everything the server sends back to `socket` until it closes, and whether it closed within 5 s. */
function answer(socket: Socket): Promise<{ bytes: Buffer; closed: boolean }> {
  return new Promise((done) => {
    const got: Buffer[] = [];
    const timer = setTimeout(() => done({ bytes: Buffer.concat(got), closed: false }), 5000);
    socket.on('data', (d: Buffer) => got.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      done({ bytes: Buffer.concat(got), closed: true });
    });
  });
}

describe('a data server over TLS', () => {
  it('closes connections without a certificate of the job before reading a byte of them', async () => {
    await ready;
    const server = await startDataServer({ listen: '127.0.0.1:0', tls: job.worker(0) });
    server.transport(0, 2, [server.address, '127.0.0.1:1'], ['w0', 'w1'], 1n);
    const [host, port] = [server.address.split(':')[0] as string, Number(server.address.split(':')[1])];
    const hello = encodeHello({ generation: 1n, from: 0, to: 1, workerId: 'w1' });
    try {
      const plain = netConnect({ host, port });
      plain.write(hello);
      const outsider = tlsConnect({ host, port, ...readTlsFiles(stranger.worker(0)), rejectUnauthorized: false });
      outsider.on('secureConnect', () => outsider.write(hello));
      const anonymous = tlsConnect({ host, port, ca: readTlsFiles(job.worker(0)).ca, checkServerIdentity: () => undefined });
      anonymous.on('secureConnect', () => anonymous.write(hello));
      for (const r of await Promise.all([answer(plain), answer(outsider), answer(anonymous)])) {
        assert.equal(r.closed, true);
        // no REJECT (which would name ranks and workers), no ACCEPT with a shared-memory offer
        assert.equal(r.bytes.includes(Buffer.from('w0')), false);
        assert.equal(r.bytes.includes(Buffer.from('rank')), false);
      }
    } finally {
      await server.close();
    }
  });
});

describe('a data server over TLS, certificates of its own CA', () => {
  it("closes a connection with an expired worker certificate or a tool's before reading a byte of it", async () => {
    const certs = await rotatingCertificates('own CA');
    const server = await startDataServer({ listen: '127.0.0.1:0', tls: (await certs.issue('worker', 'w0')).files });
    server.transport(0, 2, [server.address, '127.0.0.1:1'], ['w0', 'w1'], 1n);
    const [host, port] = [server.address.split(':')[0] as string, Number(server.address.split(':')[1])];
    const hello = encodeHello({ generation: 1n, from: 0, to: 1, workerId: 'w1' });
    const expired = await certs.issue('worker', 'w1', { notBefore: new Date(Date.now() - 3 * 86_400_000), days: -1 });
    const tool = await certs.issue('tool', 'w1');
    try {
      const answers = await Promise.all(
        [expired, tool].map((holder) => {
          const s = tlsConnect({ host, port, ...readTlsFiles(holder.files), checkServerIdentity: () => undefined });
          s.on('secureConnect', () => s.write(hello));
          return answer(s);
        }),
      );
      for (const r of answers) {
        assert.equal(r.closed, true);
        assert.equal(r.bytes.length, 0, 'nothing answered: no ACCEPT, no REJECT');
      }
    } finally {
      await server.close();
      await certs.remove();
    }
  });
});

/** Sends `hello` over TLS as `holder` and collects the answer until the server closes. */
function claim(address: string, holder: { ca: string; cert: string; key: string }, hello: Buffer) {
  const [host, port] = [address.split(':')[0] as string, Number(address.split(':')[1])];
  const s = tlsConnect({ host, port, ...readTlsFiles(holder), checkServerIdentity: () => undefined });
  s.on('secureConnect', () => s.write(hello));
  return answer(s);
}

describe('a data server over TLS, a HELLO bound to its certificate', () => {
  it("refuses a valid worker certificate claiming another worker's id or rank, all alike, and changes nothing", async () => {
    const certs = await rotatingCertificates('claims');
    const [w0, w1, mallory] = [await certs.issue('worker', 'w0'), await certs.issue('worker', 'w1'), await certs.issue('worker', 'w2')];
    const ids = ['w0', 'w1'];
    const opts = { listen: '127.0.0.1:0', sharedMemoryBytes: 0, connectTimeoutMs: 10_000 };
    const s0 = await startDataServer({ ...opts, tls: w0.files });
    const s1 = await startDataServer({ ...opts, tls: w1.files });
    const [a0, a1] = [s0.address, s1.address];
    try {
      // rank 0 runs; rank 1 has not dialed it yet, so a refusal that failed rank 0's sends to rank 1 would show
      const t0 = s0.transport(0, 2, [a0, a1], ids, 1n, ids);
      const forged = [
        { generation: 1n, from: 0, to: 1, workerId: 'w1' }, // another worker's id and rank
        { generation: 1n, from: 0, to: 1, workerId: 'w2' }, // its own id at another's rank
        { generation: 1n, from: 0, to: 7, workerId: 'w1' }, // no such rank
      ];
      const answers = await Promise.all(forged.map((h) => claim(a0, mallory.files, encodeHello(h))));
      for (const r of answers) {
        assert.equal(r.closed, true);
        assert.equal(r.bytes[0], 18, 'a REJECT, no ACCEPT and no chunk');
        for (const name of ['w0', 'w1', 'w2', 'rank']) assert.equal(r.bytes.includes(Buffer.from(name)), false, name);
        assert.deepEqual(r.bytes, answers[0]?.bytes, 'one refusal for every mismatch');
      }
      // the holder of w1's certificate is admitted as rank 1
      const t1 = s1.transport(1, 2, [a0, a1], ids, 1n, ids);
      const send = t0.openSend(1, 1, 10_000);
      send.write(chunk(1, [4, 2]));
      await send.flush();
      assert.deepEqual([...(await t1.recv(0, 1, 10_000)).data], [4, 2]);
    } finally {
      await Promise.all([s0.close(), s1.close()]);
      await certs.remove();
    }
  });

  it("a receiver refuses a data server whose certificate is not the announced worker's", async () => {
    const certs = await rotatingCertificates('dialed');
    const [mallory, w1] = [await certs.issue('worker', 'w2'), await certs.issue('worker', 'w1')];
    // a valid worker certificate of the job, at the address the coordinator announced for w0
    const impostor = await startDataServer({ listen: '127.0.0.1:0', tls: mallory.files });
    const server = await startDataServer({ listen: '127.0.0.1:0', tls: w1.files, connectTimeoutMs: 5000 });
    try {
      impostor.transport(0, 2, [impostor.address, server.address], ['w0', 'w1'], 1n, ['w2', 'w1']);
      const t1 = server.transport(1, 2, [impostor.address, server.address], ['w0', 'w1'], 1n, ['w0', 'w1']);
      await assert.rejects(t1.recv(0, 1, 5000), /the data server's certificate is not the announced worker's/);
    } finally {
      await Promise.all([impostor.close(), server.close()]);
      await certs.remove();
    }
  });
});

describe('certificate rotation', () => {
  it('serves new connections with the certificate files as they are now', async () => {
    await ready;
    const dir = mkdtempSync(join(tmpdir(), 'pf-rotate-'));
    const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
    const install = (from: { ca: string; cert: string; key: string }) => {
      for (const k of ['ca', 'cert', 'key'] as const) copyFileSync(from[k], files[k]);
    };
    install(job.worker(0));
    const server = createDataServer(dataTlsOf(files), (s) => s.end());
    const stop = reloadOnChange(server, files, 50);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as { port: number }).port;
    /** whether a worker of `holder`'s CA completes a handshake with the server */
    const handshakes = (holder: EphemeralCertificates) =>
      new Promise<boolean>((done) => {
        const c = tlsConnect({ host: '127.0.0.1', port, ...readTlsFiles(holder.worker(0)), checkServerIdentity: () => undefined });
        c.on('secureConnect', () => {
          c.destroy();
          done(true);
        });
        c.on('error', () => done(false));
      });
    try {
      assert.equal(await handshakes(job), true);
      assert.equal(await handshakes(stranger), false);
      install(stranger.worker(0));
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await handshakes(stranger), true);
      assert.equal(await handshakes(job), false);
    } finally {
      stop();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TLS handshakes on the data port', () => {
  it('holds at most maxPendingConnections connections that never send a ClientHello; a neighbour still connects', async () => {
    await ready;
    const cap = 4;
    const tcp = await ring(2, [], { tls: job.worker(0), sharedMemoryBytes: 0, maxPendingConnections: cap, handshakeTimeoutMs: 60_000 });
    let silent: Awaited<ReturnType<typeof silentClient>>[] = [];
    try {
      // the flood goes to rank 0's port, which rank 1 dials for rank 0's data
      silent = await Promise.all(Array.from({ length: 3 * cap }, () => silentClient(tcp.addresses[0] as string)));
      const cut = await Promise.race([
        Promise.all(silent.slice(0, 2 * cap).map((c) => c.closed)).then(() => true),
        new Promise((r) => setTimeout(() => r(false), 5000)),
      ]);
      assert.equal(cut, true, 'the oldest silent connections beyond the cap are closed at once, long before the 60 s deadline');
      assert.equal(silent.slice(2 * cap).filter((c) => c.socket.destroyed).length, 0);
      // a new membership: rank 1 dials rank 0 again, through the flood
      const ids = ['worker-0', 'worker-1'];
      // both ranks hold the same certificate, local-0
      const next = (r: number) => (tcp.servers[r] as DataServer).transport(r, 2, tcp.addresses, ids, 2n, ['local-0', 'local-0']);
      const [t0, t1] = [next(0), next(1)];
      const send = t0.openSend(1, 1, 10_000);
      send.write(chunk(1, [1, 2, 3]));
      await send.flush();
      assert.deepEqual([...(await t1.recv(0, 1, 10_000)).data], [1, 2, 3]);
    } finally {
      for (const c of silent) c.socket.destroy();
      await tcp.close();
    }
  });
});

describe('certificate rotation, dialing side', () => {
  it("a membership's new connections present the certificate the files hold now", async () => {
    const certs = await rotatingCertificates('dial');
    const rank0 = await certs.issue('worker', 'w0');
    const rank1 = await certs.issue('worker', 'w1');
    const seen: string[] = [];
    // rank 0 only records the certificate each connection presents
    const fake = createDataServer(dataTlsOf(rank0.files), (s) => {
      seen.push((s as TLSSocket).getPeerCertificate().serialNumber);
      s.destroy();
    });
    await new Promise<void>((done) => fake.listen(0, '127.0.0.1', done));
    const at = `127.0.0.1:${(fake.address() as { port: number }).port}`;
    const server = await startDataServer({ listen: '127.0.0.1:0', tls: rank1.files, connectTimeoutMs: 2000 });
    const until = async (n: number) => {
      for (let i = 0; i < 100 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 100));
    };
    try {
      server.transport(1, 2, [at, server.address], ['w0', 'w1'], 1n, ['w0', 'w1']);
      await until(1);
      const renewed = await certs.issue('worker', 'w1');
      await new Promise((r) => setTimeout(r, 1500));
      server.transport(1, 2, [at, server.address], ['w0', 'w1'], 2n, ['w0', 'w1']);
      await until(2);
      assert.deepEqual(seen.slice(0, 2), [rank1.serial, renewed.serial]);
    } finally {
      await server.close();
      fake.close();
      await certs.remove();
    }
  });
});

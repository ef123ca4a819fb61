import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { transportContract } from '@permafrost/collective/testing';
import { type EphemeralCertificates, ephemeralCertificates, readTlsFiles } from '@permafrost/security';
import { startDataServer } from './data-server';
import { encodeHello } from './protocol';
import { createDataServer, dataTlsOf, reloadOnChange } from './secure-socket';
import { ring } from './test-ring';

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

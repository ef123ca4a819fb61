import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { randomSerial } from './certificates';
import { ephemeralCertificates, initCertsDir } from './certs-dir';
import { identityOf } from './identity';
import { readTlsFiles } from './tls-files';

const dir = mkdtempSync(join(tmpdir(), 'pf-certs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One mutual TLS handshake on loopback; resolves with what each side saw of the other. */
function handshake(server: { ca: Buffer; cert: Buffer; key: Buffer }, client: { ca: Buffer; cert: Buffer; key: Buffer }) {
  return new Promise<{ serverSaw: unknown; clientAuthorized: boolean }>((done, fail) => {
    const srv = createServer({ ...server, requestCert: true, rejectUnauthorized: true }, (s: TLSSocket) => {
      const serverSaw = identityOf(s.getPeerCertificate());
      s.end();
      srv.close();
      done({ serverSaw, clientAuthorized: s.authorized });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const c = connect({ ...client, host: '127.0.0.1', port, servername: 'localhost' });
      c.on('error', (e) => {
        srv.close();
        fail(e);
      });
    });
  });
}

describe('certificate serials', () => {
  it('are 16 positive bytes whose DER INTEGER needs no padding byte (OpenSSL parses every one)', () => {
    for (let i = 0; i < 10_000; i++) {
      const serial = randomSerial();
      assert.match(serial, /^[4-7][0-9a-f]{31}$/, serial);
    }
  });
});

describe('certs init', () => {
  it('writes a CA and certificates that verify, keys 0600, and refuses to overwrite', async () => {
    const out = join(dir, 'job');
    const r = await initCertsDir(out, { workers: 2, sans: ['trainer.example'], days: 30, label: 'test' });
    assert.deepEqual(Object.keys(r.files).sort(), ['coordinator', 'tool', 'worker-0', 'worker-1']);
    const ca = new X509Certificate(readFileSync(r.ca));
    assert.equal(ca.ca, true);
    for (const f of Object.values(r.files)) {
      const c = new X509Certificate(readFileSync(f.cert));
      assert.ok(c.verify(ca.publicKey), `${f.cert} is signed by the CA`);
      assert.match(c.serialNumber, /^[4-7][0-9A-F]{31}$/, `${f.cert}'s serial as OpenSSL reads it`);
      assert.equal(statSync(f.key).mode & 0o777, 0o600);
    }
    assert.equal(statSync(r.caKey).mode & 0o777, 0o600);
    assert.equal(statSync(out).mode & 0o777, 0o700);
    const coord = new X509Certificate(readFileSync(r.files.coordinator?.cert as string));
    assert.match(coord.subjectAltName ?? '', /DNS:trainer\.example/);
    assert.match(coord.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    await assert.rejects(initCertsDir(out, { workers: 1, sans: [], days: 1, label: 'x' }), /exists/);
  });

  it("names worker certificates by a prefix: a StatefulSet's pod names", async () => {
    const r = await initCertsDir(join(dir, 'sts'), { workers: 2, workerPrefix: 'permafrost-worker-', sans: [], days: 1, label: 'sts' });
    assert.deepEqual(Object.keys(r.files).sort(), ['coordinator', 'permafrost-worker-0', 'permafrost-worker-1', 'tool']);
    const w1 = r.files['permafrost-worker-1'];
    assert.equal(w1?.cert, join(dir, 'sts', 'permafrost-worker-1.pem'));
    const c = new X509Certificate(readFileSync(w1?.cert as string));
    assert.match(c.subject, /CN=permafrost-worker-1/);
    assert.match(c.subject, /OU=worker/);
    await assert.rejects(
      initCertsDir(join(dir, 'bad'), { workers: 1, workerPrefix: '../w', sans: [], days: 1, label: 'x' }),
      /--worker-prefix/,
    );
  });

  it('ephemeral certificates authenticate both ends of a TLS connection by role and name', async () => {
    const e = await ephemeralCertificates(2, 'job-1');
    try {
      assert.equal(statSync(e.dir).mode & 0o777, 0o700);
      const seen = await handshake(readTlsFiles(e.coordinator), readTlsFiles(e.worker(1)));
      assert.equal(seen.clientAuthorized, true);
      assert.deepEqual(seen.serverSaw, { role: 'worker', name: 'local-1' });
    } finally {
      await e.remove();
    }
    assert.throws(() => statSync(e.dir), /ENOENT/);
  });

  it('a certificate of another CA is refused by the handshake', async () => {
    const a = await ephemeralCertificates(1, 'a');
    const b = await ephemeralCertificates(1, 'b');
    try {
      await assert.rejects(handshake(readTlsFiles(a.coordinator), readTlsFiles(b.worker(0))));
    } finally {
      await Promise.all([a.remove(), b.remove()]);
    }
  });
});

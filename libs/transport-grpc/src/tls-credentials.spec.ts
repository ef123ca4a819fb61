import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServer, type TLSSocket } from 'node:tls';
import { create } from '@bufbuild/protobuf';
import { StatusRequestSchema } from '@permafrost/proto';
import { readTlsFiles } from '@permafrost/security';
import { rotatingCertificates } from '@permafrost/security/testing';
import { createCoordinatorClient } from './coordinator-client';

// clients read their certificate files every 50 ms here (a minute by default)
process.env.PERMAFROST_CERT_REFRESH_MS = '50';

describe('certificate rotation, a channel to the coordinator', () => {
  it('presents the certificate the files hold now on every new connection', async () => {
    const certs = await rotatingCertificates('channel');
    const coordinator = await certs.issue('coordinator', 'coordinator');
    const worker = await certs.issue('worker', 'w-a');
    const seen: string[] = [];
    // a TLS server standing in for the coordinator: it records each client certificate and hangs up
    const server = createServer({ ...readTlsFiles(coordinator.files), requestCert: true, ALPNProtocols: ['h2'] }, (s: TLSSocket) => {
      seen.push(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const client = createCoordinatorClient(`127.0.0.1:${(server.address() as { port: number }).port}`, { tls: worker.files });
    /** one call, which fails (nothing speaks gRPC there) after its connection presented a certificate */
    const call = async (n: number) => {
      for (let i = 0; i < 20 && seen.length < n; i++) await client.status(create(StatusRequestSchema, {}), 1000).catch(() => undefined);
    };
    try {
      await call(1);
      const renewed = await certs.issue('worker', 'w-a');
      await new Promise((r) => setTimeout(r, 500));
      await call(seen.length + 1);
      assert.equal(seen[0], worker.serial);
      assert.equal(seen.at(-1), renewed.serial);
    } finally {
      client.close();
      server.close();
      await certs.remove();
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { Caller, CoordinatorHandlers, CoordinatorServer } from '@permafrost/coordinator';
import { JoinRequestSchema, JoinResponseSchema, LeaveResponseSchema, StatusRequestSchema, StatusResponseSchema } from '@permafrost/proto';
import { type CertsInitResult, initCertsDir, issueCertificate } from '@permafrost/security';
import { PermafrostError } from '@permafrost/telemetry';
import { type CoordinatorClientSecurity, createCoordinatorClient } from './coordinator-client';
import { startCoordinatorServer } from './coordinator-server';

const TOKEN = 'a-job-token-of-32-characters-xyz';
const dir = mkdtempSync(join(tmpdir(), 'pf-guard-'));
let certs: CertsInitResult;
let other: CertsInitResult;
const joined: Caller[] = [];
const servers: CoordinatorServer[] = [];

const handlers: CoordinatorHandlers = {
  join: async (_req, caller) => {
    joined.push(caller ?? {});
    return create(JoinResponseSchema, { jobSpecJson: '{"secret":"spec"}' });
  },
  session: () => undefined,
  leave: async () => create(LeaveResponseSchema, {}),
  status: async () => create(StatusResponseSchema, { state: 'running' }),
};

before(async () => {
  certs = await initCertsDir(join(dir, 'job'), { workers: 1, sans: [], days: 1, label: 'job' });
  other = await initCertsDir(join(dir, 'other'), { workers: 1, sans: [], days: 1, label: 'other' });
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

const files = (r: CertsInitResult, holder: string) => ({ ca: r.ca, ...(r.files[holder] as { cert: string; key: string }) });

async function serve(token?: string): Promise<string> {
  const server = await startCoordinatorServer('127.0.0.1:0', handlers, { tls: files(certs, 'coordinator'), token });
  servers.push(server);
  return server.address.replace('127.0.0.1', 'localhost');
}

async function joinAs(address: string, security: CoordinatorClientSecurity) {
  const client = createCoordinatorClient(address, security);
  try {
    return await client.join(create(JoinRequestSchema, { workerId: 'w', peerAddress: 'x:1' }), 3000);
  } finally {
    client.close();
  }
}

async function statusAs(address: string, security: CoordinatorClientSecurity) {
  const client = createCoordinatorClient(address, security);
  try {
    return await client.status(create(StatusRequestSchema, {}), 3000);
  } finally {
    client.close();
  }
}

const refusedWith = (code: string) => (e: unknown) => e instanceof PermafrostError && e.code === code;

describe('the coordinator over mutual TLS', () => {
  it('admits a worker certificate to Join and tells the handler who it is', async () => {
    const address = await serve();
    const res = await joinAs(address, { tls: files(certs, 'worker-0') });
    assert.equal(res.jobSpecJson, '{"secret":"spec"}');
    assert.deepEqual(joined.at(-1), { identity: { role: 'worker', name: 'worker-0' } });
  });

  it('refuses a tool certificate at Join (PERMISSION_DENIED) and lets it call Status', async () => {
    const address = await serve();
    await assert.rejects(joinAs(address, { tls: files(certs, 'tool') }), refusedWith('permission-denied'));
    assert.equal((await statusAs(address, { tls: files(certs, 'tool') })).state, 'running');
  });

  it('refuses a client without a certificate, or with one of another CA, in the handshake', async () => {
    const address = await serve();
    const before = joined.length;
    await assert.rejects(joinAs(address, { tls: { ca: certs.ca } }), refusedWith('unavailable'));
    await assert.rejects(joinAs(address, { tls: { ...files(other, 'worker-0'), ca: certs.ca } }), refusedWith('unavailable'));
    assert.equal(joined.length, before);
  });

  it('refuses an expired worker certificate', async () => {
    const address = await serve();
    // the job CA's own key signs a certificate that expired yesterday
    const ca = { cert: readFileSync(certs.ca, 'utf8'), key: readFileSync(certs.caKey, 'utf8') };
    const expired = await issueCertificate(ca, { role: 'worker', name: 'old' }, { notBefore: new Date(Date.now() - 3 * 864e5), days: -1 });
    writeFileSync(join(dir, 'old.pem'), expired.cert);
    writeFileSync(join(dir, 'old-key.pem'), expired.key);
    await assert.rejects(
      joinAs(address, { tls: { ca: certs.ca, cert: join(dir, 'old.pem'), key: join(dir, 'old-key.pem') } }),
      refusedWith('unavailable'),
    );
  });

  it('with a job token: Status with the token, Join still needs a worker certificate', async () => {
    const address = await serve(TOKEN);
    assert.equal((await statusAs(address, { tls: { ca: certs.ca }, token: TOKEN })).state, 'running');
    await assert.rejects(statusAs(address, { tls: { ca: certs.ca }, token: `${TOKEN}x` }), refusedWith('unauthenticated'));
    await assert.rejects(joinAs(address, { tls: { ca: certs.ca }, token: TOKEN }), refusedWith('unauthenticated'));
    await assert.rejects(joinAs(address, { tls: { ...files(other, 'worker-0'), ca: certs.ca } }), refusedWith('unauthenticated'));
  });

  it("a worker does not join a server whose certificate is not the job's coordinator's", async () => {
    const server = await startCoordinatorServer('127.0.0.1:0', handlers, { tls: files(certs, 'worker-0') });
    servers.push(server);
    await assert.rejects(
      joinAs(server.address.replace('127.0.0.1', 'localhost'), { tls: files(certs, 'worker-0') }),
      refusedWith('unavailable'),
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Health, startObserveServer } from './http-server';

describe('the HTTP port', () => {
  it('answers health, metrics, status and the page; 404 and 405 otherwise', async () => {
    let health: Health = { ok: false, body: { status: 'joining' } };
    const server = await startObserveServer('127.0.0.1:0', {
      health: () => health,
      metrics: async () => 'm 1\n',
      metricsContentType: 'text/plain; version=0.0.4; charset=utf-8',
      status: () => ({ state: 'running' }),
      page: () => '<p>page</p>',
    });
    const url = (p: string) => `http://${server.address}${p}`;
    try {
      assert.equal((await fetch(url('/healthz'))).status, 503);
      health = { ok: true, body: { status: 'ok' } };
      const h = await fetch(url('/healthz'));
      assert.equal(h.status, 200);
      assert.deepEqual(await h.json(), { status: 'ok' });
      assert.equal(await (await fetch(url('/metrics'))).text(), 'm 1\n');
      assert.deepEqual(await (await fetch(url('/api/status'))).json(), { state: 'running' });
      const page = await fetch(url('/?x=1'));
      assert.match(page.headers.get('content-security-policy') ?? '', /connect-src 'self'/);
      assert.equal((await fetch(url('/nothing'))).status, 404);
      assert.equal((await fetch(url('/metrics'), { method: 'POST' })).status, 405);
    } finally {
      await server.close();
    }
  });

  it('a port in use is a user error naming the flag', async () => {
    const a = await startObserveServer('127.0.0.1:0', {
      health: () => ({ ok: true, body: {} }),
      metrics: async () => '',
      metricsContentType: 'text/plain',
    });
    try {
      await assert.rejects(
        startObserveServer(a.address, {
          health: () => ({ ok: true, body: {} }),
          metrics: async () => '',
          metricsContentType: 'text/plain',
        }),
        /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/,
      );
    } finally {
      await a.close();
    }
  });
});

describe('the job token on the HTTP port', () => {
  const routes = {
    health: () => ({ ok: true, body: {} }),
    metrics: async () => 'm 1\n',
    metricsContentType: 'text/plain',
    status: () => ({ state: 'running' }),
    page: () => '<p>page</p>',
  };
  const TOKEN = 'a-token-of-sufficient-length';

  it('guards the page and /api with the token, leaves /healthz and /metrics open', async () => {
    const server = await startObserveServer('127.0.0.1:0', routes, '--http', { token: TOKEN });
    const url = (p: string) => `http://${server.address}${p}`;
    try {
      assert.equal((await fetch(url('/api/status'))).status, 401);
      assert.equal((await fetch(url('/'))).status, 401);
      assert.equal((await fetch(url('/api/status'), { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status, 401);
      assert.equal((await fetch(url('/api/status'), { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
      assert.equal((await fetch(url(`/?token=${TOKEN}`))).status, 200);
      assert.equal((await fetch(url(`/api/status?token=${TOKEN}`))).status, 200);
      assert.equal((await fetch(url('/healthz'))).status, 200);
      assert.equal((await fetch(url('/metrics'))).status, 200);
    } finally {
      await server.close();
    }
  });

  it('refuses an address beyond loopback without a token unless insecure, naming the flag', async () => {
    await assert.rejects(startObserveServer('0.0.0.0:0', routes, '--http'), (e: Error) => /--http|token/.test(e.message));
  });
});

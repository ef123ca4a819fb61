import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bindServer, newServer, splitHostPort, widenReceiveWindows } from './grpc-setup';

describe('grpc setup', () => {
  it('splits HOST:PORT, IPv6 included, and refuses anything else', () => {
    assert.deepEqual(splitHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(splitHostPort('[::1]:50051'), { host: '[::1]', port: 50051 });
    for (const bad of ['127.0.0.1', ':80', 'host:', 'host:http', 'host:70000'])
      assert.throws(() => splitHostPort(bad), /not HOST:PORT/, bad);
  });

  it('binds port 0 to a real port, reaches the http2 servers it tunes, and closes twice without harm', async () => {
    const server = newServer();
    const bound = await bindServer(server, '127.0.0.1:0');
    try {
      assert.match(bound.address, /^127\.0\.0\.1:[1-9]\d*$/);
      // grpc-js's private http2Servers map is still there (one more listener per server is harmless)
      assert.ok(widenReceiveWindows(server) >= 1);
    } finally {
      await Promise.all([bound.close(), bound.close()]);
    }
  });

  it('names the address it cannot listen on', async () => {
    const first = await bindServer(newServer(), '127.0.0.1:0');
    try {
      await assert.rejects(
        bindServer(newServer(), first.address),
        (e) => e instanceof Error && e.message.includes(`cannot listen on ${first.address}`),
      );
    } finally {
      await first.close();
    }
  });
});

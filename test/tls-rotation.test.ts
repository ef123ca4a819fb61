/**
 * A running job under TLS (docs/security.md#certificate-rotation): every holder's certificate
 * files renewed in place mid-job (same CA, new keys and serials) are presented on the next
 * connections, server side and dialing side, without a restart; and a flood of TCP connections
 * that never send a ClientHello at a worker's data port is capped (the oldest closed at once,
 * long before the handshake deadline) while the ring's own connections still get through. A
 * worker joining late makes the ring dial anew (generation 2), through the flood and under the
 * renewed certificates; the job finishes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { readTlsFiles, type TlsFiles } from '@permafrost/security';
import { rotatingCertificates } from '@permafrost/security/testing';
import { silentClient } from '@permafrost/transport-tcp/testing';
import { attacker, readJson, runPaths, smallFleetJob, startCli, tempDir } from './support';

const tmp = tempDir('tls-rotation');
/** the data server's cap on connections waiting for their handshake (connection-guard.ts) */
const CAP = 128;
const FLOOD = CAP + 40;
const EPOCHS = 4;
/** enough work that the job is still running when the third worker joins (about 7 s of it at 1000 samples was not) */
const TRAIN_SAMPLES = 3000;
/** each fleet process is killed after this long: a shared 2-vCPU machine can take minutes for a fleet */
const KILL_AFTER_MS = 360_000;

const flags = (f: TlsFiles) => ['--tls-ca', f.ca, '--tls-cert', f.cert, '--tls-key', f.key];

/** The serial of the certificate the TLS server at `address` presents to a client holding `as`. */
function serverSerial(address: string, as: TlsFiles, alpn?: string): Promise<string> {
  const i = address.lastIndexOf(':');
  return new Promise((done, fail) => {
    const s = tlsConnect({
      host: address.slice(0, i),
      port: Number(address.slice(i + 1)),
      ...readTlsFiles(as),
      // an IP address is no TLS server name
      servername: 'localhost',
      checkServerIdentity: () => undefined,
      ...(alpn ? { ALPNProtocols: [alpn] } : {}),
    });
    s.on('secureConnect', () => {
      done(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.on('error', fail);
  });
}

/** The certificate serials a worker's data server logged for the neighbours it admitted in `generation`. */
const admitted = (stderr: string, generation: number) =>
  stderr
    .split('\n')
    .filter((l) => l.includes('"msg":"data connection admitted"'))
    .map((l) => JSON.parse(l) as { generation: number; certificateSerial?: string })
    .filter((l) => l.generation === generation)
    .map((l) => l.certificateSerial);

describe('a running job under TLS', () => {
  it('presents renewed certificates on new connections, caps silent connections at a data port, and finishes', async () => {
    const certs = await rotatingCertificates('rotation');
    after(() => certs.remove());
    const issue = (name: string) => certs.issue(name === 'coordinator' ? 'coordinator' : name === 'tool' ? 'tool' : 'worker', name);
    const first = Object.fromEntries(await Promise.all(['coordinator', 'tool', 'w-a', 'w-b', 'w-c'].map(async (n) => [n, await issue(n)])));
    const files = (n: string) => first[n].files as TlsFiles;
    // files are read again every 200 ms; only the cap, not the 60 s deadline, can close the flood
    const env = { PERMAFROST_CERT_REFRESH_MS: '200', PERMAFROST_HANDSHAKE_TIMEOUT_MS: '60000' };
    // a third worker may join the running job (cluster.maxWorkers; flags override the file's fields)
    const spec = tmp.file('max-workers.yaml', 'cluster:\n  maxWorkers: 3\n');
    const job = [
      ...smallFleetJob(tmp.path, 'rotated', 11),
      '--train-samples',
      String(TRAIN_SAMPLES),
      '--epochs',
      String(EPOCHS),
      '--config',
      spec,
    ];
    const c = startCli(
      ['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '2', ...job, ...flags(files('coordinator'))],
      env,
      { killAfterMs: KILL_AFTER_MS },
    );
    const worker = (id: string) =>
      startCli(
        ['worker', 'start', '--coordinator', address, '--id', id, '--cache-dir', join(tmp.path, 'rotated', id), ...flags(files(id))],
        env,
        { killAfterMs: KILL_AFTER_MS },
      );
    const workers: ReturnType<typeof startCli>[] = [];
    let address = '';
    try {
      address = JSON.parse(await c.waitFor(/coordinator listening/)).address as string;
      workers.push(worker('w-a'), worker('w-b'));
      await Promise.all(workers.map((w) => w.waitFor(/allreduce transport/, 90_000)));
      const tool = attacker(address, { tls: files('tool') });
      const status = await tool.status();
      tool.close();
      assert.ok('ok' in status, 'the tool reads the status');
      const dataA = status.ok.workers.find((w) => w.workerId === 'w-a')?.dataAddress as string;

      // a flood at w-a's data port: beyond the cap, the oldest are closed at once
      const flood = await Promise.all(Array.from({ length: FLOOD }, () => silentClient(dataA)));
      const t0 = Date.now();
      await Promise.all(flood.slice(0, FLOOD - CAP).map((f) => f.closed));
      assert.ok(Date.now() - t0 < 30_000, 'closed by the cap, not by the 60 s handshake deadline');

      // every holder's files renewed in place
      const renewed = Object.fromEntries(await Promise.all(['coordinator', 'w-a', 'w-b'].map(async (n) => [n, (await issue(n)).serial])));
      await new Promise((r) => setTimeout(r, 2000));
      // server side: the coordinator's gRPC port and w-a's data port present the renewed certificates
      assert.equal(await serverSerial(address, files('tool'), 'h2'), renewed.coordinator);
      assert.equal(await serverSerial(dataA, files('w-c')), renewed['w-a']);

      // dialing side: w-c joins, the ring of 3 dials anew (w-b dials w-a, w-a dials w-c), through the flood
      workers.push(worker('w-c'));
      await Promise.all(workers.map((w) => w.waitFor(/"msg":"allreduce transport".*"generation":"?2\b/, 120_000)));
      const [cExit, ...wExits] = await Promise.all([c.exit, ...workers.map((w) => w.exit)]);
      assert.equal(cExit?.code, 0, c.stderr());
      for (const [i, e] of wExits.entries()) assert.equal(e?.code, 0, workers[i]?.stderr());
      const [a, , cw] = workers.map((w) => w.stderr());
      const saw = (stderr: string | undefined, serial: string) => {
        const serials = admitted(stderr ?? '', 2);
        return serials.length > 0 && serials.every((s) => s === serial);
      };
      assert.ok(saw(a, renewed['w-b']), "w-a's data server saw w-b's renewed certificate");
      assert.ok(saw(cw, renewed['w-a']), "w-c's data server saw w-a's renewed certificate");
      assert.equal(readJson(runPaths(tmp.path, 'rotated').report).epochs.length, EPOCHS);
      for (const f of flood) f.socket.destroy();
    } finally {
      for (const p of [c, ...workers]) p.child.kill('SIGKILL');
      await Promise.all([c.exit, ...workers.map((w) => w.exit)]);
    }
  });
});

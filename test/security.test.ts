/**
 * Secure by default (docs/distributed.md#security): a coordinator or worker without TLS material
 * refuses to start; against a running job, every attack of issue 17 is refused and the job
 * finishes: Joins without a certificate, with another CA's, an expired one, a tool's, or a valid
 * one for another job; a Leave or Session in another worker's name; a forged data-plane HELLO,
 * plaintext or over TLS with a valid worker certificate claiming another worker, and with
 * cluster.transport grpc a Peer stream sending as another worker's rank;
 * and the job token never shows in logs or the report.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ephemeralCertificates, issueCertificate } from '@permafrost/security';
import { encodeHello } from '@permafrost/transport-tcp/testing';
import { attacker, exchangeAs, probe, runCli, runPaths, smallFleetJob, startCli, tempDir, testTls } from './support';

const tmp = tempDir('security');
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;

const job = (name: string) => smallFleetJob(tmp.path, name, 5);
/** each fleet process is killed after this long: a shared 2-vCPU machine can take minutes for a fleet */
const KILL_AFTER_MS = 360_000;

/** A worker certificate of the job's own CA that expired yesterday. */
async function expiredWorker(): Promise<{ ca: string; cert: string; key: string }> {
  const ca = testTls('coordinator').ca;
  const caPem = { cert: readFileSync(ca, 'utf8'), key: readFileSync(join(dirname(ca), 'ca-key.pem'), 'utf8') };
  const pem = await issueCertificate(caPem, { role: 'worker', name: 'expired' }, { notBefore: new Date(Date.now() - 3 * 864e5), days: -1 });
  return { ca, cert: tmp.file('expired.pem', pem.cert), key: tmp.file('expired-key.pem', pem.key) };
}

/** Workers w-a (holding worker-0's certificate) and w-b (worker-1's) of the coordinator at `address`, for run `run`. */
function startWorkers(address: string, run: string): ReturnType<typeof startCli>[] {
  return ['w-a', 'w-b'].map((id, i) => {
    const f = testTls(`worker-${i}`);
    const tls = ['--tls-ca', f.ca, '--tls-cert', f.cert, '--tls-key', f.key];
    const args = ['worker', 'start', '--coordinator', address, '--id', id, '--cache-dir', join(tmp.path, run, id), ...tls];
    return startCli(args, {}, { killAfterMs: KILL_AFTER_MS });
  });
}

describe('security', () => {
  it('without TLS material, coordinator and worker refuse to start in one line, exit 2', async () => {
    const c = await runCli(['coordinator', 'start', '--min-workers', '1', ...job('refused')], { tls: false });
    assert.equal(c.code, 2, c.stderr);
    assert.match(c.stderr, /^permafrost: no TLS material: give --tls-ca, --tls-cert and --tls-key .* or pass --insecure/m);
    assert.equal(c.stderr.trim().split('\n').length, 1);
    const w = await runCli(['worker', 'start', '--coordinator', '127.0.0.1:1'], { tls: false });
    assert.equal(w.code, 2, w.stderr);
    assert.match(w.stderr, /^permafrost: no TLS material/m);
    const partial = await runCli(['worker', 'start', '--coordinator', '127.0.0.1:1', '--tls-ca', testTls('worker-0').ca], { tls: false });
    assert.equal(partial.code, 2);
    assert.match(partial.stderr, /^permafrost: --tls-cert: --tls-cert is needed with --tls-ca/m);
  });

  it('refuses every attack on a running job, which finishes; the token shows nowhere', async () => {
    const other = await ephemeralCertificates(1, 'another job');
    after(() => other.remove());
    const report = runPaths(tmp.path, 'attacked').report;
    const c = startCli(
      ['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '2', '--job-id', 'job-s', ...job('attacked')],
      { PERMAFROST_TOKEN: TOKEN },
      { killAfterMs: KILL_AFTER_MS },
    );
    const workers: ReturnType<typeof startCli>[] = [];
    try {
      const address = JSON.parse(await c.waitFor(/coordinator listening/)).address as string;
      const ca = testTls('coordinator').ca;
      const as = (security: Parameters<typeof attacker>[1]) => attacker(address, security);
      // while the coordinator waits for workers: no Join gets anything of the job
      const refusedJoins = {
        plaintext: await as({}).join('p'),
        noCertificate: await as({ tls: { ca } }).join('n'),
        otherCa: await as({ tls: { ...other.worker(0), ca } }).join('o'),
        expired: await as({ tls: await expiredWorker() }).join('e'),
        tool: await as({ tls: testTls('tool') }).join('t'),
        wrongJob: await as({ tls: testTls('worker-7') }).join('j', 'job-other'),
      };
      assert.deepEqual(Object.fromEntries(Object.entries(refusedJoins).map(([k, v]) => [k, 'code' in v ? v.code : 'admitted'])), {
        plaintext: 'unavailable',
        noCertificate: 'unauthenticated',
        otherCa: 'unauthenticated',
        expired: 'unauthenticated',
        tool: 'permission-denied',
        wrongJob: 'failed-precondition',
      });
      // nothing of the job spec in any refusal: no model, no dataset, no shard
      for (const o of Object.values(refusedJoins)) assert.ok('message' in o && !/mlp|mnist|shard/i.test(o.message), JSON.stringify(o));
      // the token alone reads the status; nothing reads it without
      assert.ok('ok' in (await as({ tls: { ca }, token: TOKEN }).status()));
      assert.deepEqual(
        await as({ tls: { ca } })
          .status()
          .then((o) => 'code' in o && o.code),
        'unauthenticated',
      );
      const tool = await runCli(['status', '--coordinator', address, '--tls-ca', ca], { env: { PERMAFROST_TOKEN: TOKEN } });
      assert.equal(tool.code, 0, tool.stderr);
      assert.equal(JSON.parse(tool.stdout).state, 'joining');
      assert.equal(tool.stdout.includes(TOKEN) || tool.stderr.includes(TOKEN), false);
      const noToken = await runCli(['status', '--coordinator', address, '--tls-ca', ca]);
      assert.equal(noToken.code, 1);
      assert.match(noToken.stderr, /^permafrost: Status needs a certificate of this job's CA or the job token/m);

      workers.push(...startWorkers(address, 'attacked'));
      await workers[0]?.waitFor(/allreduce transport/, 90_000);
      const membership = { generation: 1n, jobId: 'job-s' };
      const member = as({ tls: testTls('worker-7') });
      const status = await as({ tls: testTls('tool') }).status();
      assert.ok('ok' in status && status.ok.state === 'running');
      // Status lists no certificate names: only ring peers learn them, in the Join answer
      assert.deepEqual(
        status.ok.workers.map((w) => w.identity),
        ['', ''],
      );
      const late = await member.join('w-late');
      assert.ok('code' in late && late.code === 'failed-precondition');
      const leaves = [await member.leave('nobody', membership), await member.leave('w-a', membership), await member.leave('w-a')];
      assert.deepEqual(
        leaves.map((o) => ('code' in o ? o.code : 'accepted')),
        ['not-found', 'permission-denied', 'failed-precondition'],
      );
      for (const o of leaves) if ('message' in o) assert.doesNotMatch(o.message, /w-b/);
      assert.match(await member.session('w-a', membership), /^permission-denied: worker 'w-a' joined with another certificate/);
      // a forged HELLO at a worker's data port: closed, nothing answered that names a worker or rank
      const dataOf = (id: string) => ('ok' in status ? (status.ok.workers.find((w) => w.workerId === id)?.dataAddress ?? '') : '');
      const forged = await probe(dataOf('w-a'), encodeHello({ generation: 1n, from: 1, to: 0, workerId: 'w-b' }));
      assert.equal(forged.closed, true);
      assert.equal(forged.answer.includes(Buffer.from('w-')), false);
      // w-a's valid certificate claiming w-b (rank 1) at w-a's port, then w-b's id at rank 0 at
      // w-b's: each gets the one REJECT that names no one, and not a value (no ACCEPT, no chunk)
      const asWb = encodeHello({ generation: 1n, from: 0, to: 1, workerId: 'w-b' });
      const claims = [
        await probe(dataOf('w-a'), asWb, testTls('worker-0')),
        await probe(dataOf('w-b'), encodeHello({ generation: 1n, from: 1, to: 0, workerId: 'w-b' }), testTls('worker-0')),
      ];
      for (const r of claims) {
        assert.equal(r.closed, true);
        assert.equal(r.answer[0], 18, `a REJECT, got ${r.answer.toString('hex').slice(0, 16)}`);
        assert.equal(r.answer.length, 4 + r.answer.readUInt16LE(2), 'nothing after the REJECT');
        assert.doesNotMatch(r.answer.toString('utf8'), /w-a|w-b|rank/);
        assert.deepEqual(r.answer, claims[0]?.answer);
      }

      const [cExit, ...wExits] = await Promise.all([c.exit, ...workers.map((w) => w.exit)]);
      assert.equal(cExit?.code, 0, c.stderr());
      for (const e of wExits) assert.equal(e?.code, 0);
      const written = readFileSync(report, 'utf8');
      assert.equal(JSON.parse(written).epochs.length, 3);
      // unharmed: no worker lost its data connection to a stranger, the first membership trained to the end
      assert.deepEqual(JSON.parse(written).membership, []);
      for (const w of workers) assert.match(w.stderr(), /"msg":"data connection refused"/);
      for (const text of [c.stderr(), written, ...workers.map((w) => w.stderr())]) assert.equal(text.includes(TOKEN), false);
      assert.match(c.stderr(), /"msg":"join refused"/);
    } finally {
      for (const p of [c, ...workers]) p.child.kill('SIGKILL');
      await Promise.all([c.exit, ...workers.map((w) => w.exit)]);
    }
  });

  it("with cluster.transport grpc, a Peer stream from a valid certificate sending as another worker's rank is refused; the job finishes", async () => {
    const report = runPaths(tmp.path, 'grpc-claims').report;
    const coordinatorArgs = [
      'coordinator',
      'start',
      '--listen',
      '127.0.0.1:0',
      '--min-workers',
      '2',
      '--job-id',
      'job-g',
      '--transport',
      'grpc',
    ];
    const c = startCli([...coordinatorArgs, ...job('grpc-claims')], {}, { killAfterMs: KILL_AFTER_MS });
    const workers: ReturnType<typeof startCli>[] = [];
    try {
      const address = JSON.parse(await c.waitFor(/coordinator listening/)).address as string;
      workers.push(...startWorkers(address, 'grpc-claims'));
      await workers[0]?.waitFor(/allreduce transport/, 90_000);
      const status = await attacker(address, { tls: testTls('tool') }).status();
      assert.ok('ok' in status && status.ok.state === 'running');
      const peer = (id: string) => status.ok.workers.find((w) => w.workerId === id) ?? assert.fail(`no ${id}`);
      const [a, b] = [peer('w-a'), peer('w-b')];
      const membership = { generation: 1n, jobId: 'job-g' };
      // w-a's certificate sending as w-b's rank at w-a's Peer service, then at w-b's as w-b's own
      // rank; a job worker certificate outside the ring as w-a's rank at w-b's
      const claims = [
        await exchangeAs(a.address, testTls('worker-0'), b.rank, membership),
        await exchangeAs(b.address, testTls('worker-0'), b.rank, membership),
        await exchangeAs(b.address, testTls('worker-7'), a.rank, membership),
      ];
      for (const r of claims) {
        assert.ok('code' in r && r.code === 'permission-denied', JSON.stringify(r));
        assert.doesNotMatch(r.message, /w-a|w-b|worker-|rank/);
        assert.deepEqual(r, claims[0]);
      }

      const [cExit, ...wExits] = await Promise.all([c.exit, ...workers.map((w) => w.exit)]);
      assert.equal(cExit?.code, 0, c.stderr());
      for (const e of wExits) assert.equal(e?.code, 0);
      const written = JSON.parse(readFileSync(report, 'utf8'));
      assert.equal(written.epochs.length, 3);
      // unharmed: the first membership trained to the end
      assert.deepEqual(written.membership, []);
      for (const w of workers) assert.match(w.stderr(), /"msg":"data stream refused"/);
    } finally {
      for (const p of [c, ...workers]) p.child.kill('SIGKILL');
      await Promise.all([c.exit, ...workers.map((w) => w.exit)]);
    }
  });
});

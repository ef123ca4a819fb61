import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CollectiveError, type Transport } from '@permafrost/collective';
import { chunk } from '@permafrost/collective/testing';
import { type RotatingCertificates, rotatingCertificates } from '@permafrost/security/testing';
import { type PeerServer, startPeerServer } from './peer-server';
import { NOT_ADMITTED } from './peer-transport';

let certs: RotatingCertificates;
/** the files of the worker certificates named w0, w1 and w2 (w2: a valid worker of the job that is not in the ring) */
const holders: Record<string, Awaited<ReturnType<RotatingCertificates['issue']>>['files']> = {};
const open: PeerServer[] = [];
// the refusals' warnings are part of what is tested (the test runner silences the log by default)
process.env.PERMAFROST_LOG = 'warn';
/** what this process logged to stderr (JSON lines: stderr is no TTY here), kept from the test output */
const logged: string[] = [];
const write = process.stderr.write.bind(process.stderr);

before(async () => {
  certs = await rotatingCertificates('peer identity');
  for (const name of ['w0', 'w1', 'w2']) holders[name] = (await certs.issue('worker', name)).files;
  process.stderr.write = ((text: string | Uint8Array, ...rest: never[]) => {
    if (!String(text).startsWith('{')) return write(text, ...rest);
    logged.push(String(text));
    return true;
  }) as typeof process.stderr.write;
});
after(async () => {
  process.stderr.write = write;
  await Promise.all(open.map((s) => s.close()));
  await certs.remove();
});

/** A Peer server over mutual TLS holding worker certificate `name`. */
async function serve(name: string): Promise<PeerServer> {
  const s = await startPeerServer({ listen: '127.0.0.1:0', tls: holders[name] });
  open.push(s);
  return s;
}

/** Sends collective 1 from `t` to rank `to` and resolves with why it failed there. */
async function refusal(t: Transport, to: number, values: number[]): Promise<string> {
  const send = t.openSend(to, 1, 10_000);
  send.write(chunk(1, values));
  // a refused stream dooms collective 1 on the sending rank: its receive from the same rank fails with the reason
  const e = await t.recv(to, 1, 10_000).then(
    () => undefined,
    (x: unknown) => x,
  );
  await send.flush().catch(() => undefined);
  assert.ok(e instanceof CollectiveError, String(e));
  return e.message;
}

/** the receiver's refusal text, after the sender's own context */
const generic = `(permission-denied): ${NOT_ADMITTED}`;

describe('the Peer service over TLS, a stream bound to its certificate', () => {
  it("refuses a valid worker certificate sending as another rank, all alike; the real neighbour's chunks then arrive", async () => {
    const [s0, s1, mallory] = [await serve('w0'), await serve('w1'), await serve('w2')];
    const ids = ['w0', 'w1'];
    const [a0, a1, am] = [s0.address, s1.address, mallory.address];
    // rank 0 waits for rank 1's chunks of collective 1; w2's certificate sends them first
    const t0 = s0.transport(0, 2, [a0, a1], 1n, ids);
    const received = t0.recv(1, 1, 20_000);
    // each a membership of its own on w2's server (a new one retires the one before)
    const claims = [
      () => mallory.transport(1, 2, [a0, am], 1n, ['w0', 'w2']), // rank 1, w1's rank
      () => mallory.transport(2, 3, [a0, a1, am], 1n, ['w0', 'w1', 'w2']), // rank 2, not a rank of the ring
      () => mallory.transport(1, 2, [a0, am], 7n, ['w0', 'w2']), // rank 1 of another generation
    ];
    const refusals: string[] = [];
    for (const claim of claims) refusals.push(await refusal(claim(), 0, [6, 6]));
    // one text for every mismatch, naming no worker or rank
    for (const r of refusals) assert.ok(r.includes(generic), r);
    assert.doesNotMatch(NOT_ADMITTED, /w0|w1|w2|rank|generation/);
    const warnings = logged
      .flatMap((text) => text.split('\n').filter((l) => l.startsWith('{')))
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'data stream refused');
    assert.deepEqual(
      warnings.map((w) => [w.fromRank, w.certificateName]),
      [
        [1, 'w2'],
        [2, 'w2'],
        [1, 'w2'],
      ],
    );
    // the holder of w1's certificate sends as rank 1: admitted, and rank 0's collective 1 was untouched
    const t1 = s1.transport(1, 2, [a0, a1], 1n, ids);
    const send = t1.openSend(0, 1, 10_000);
    send.write(chunk(1, [4, 2]));
    await send.flush();
    assert.deepEqual([...(await received).data], [4, 2]);
  });

  it("a sender refuses a Peer server whose certificate is not the announced worker's, and sends it nothing", async () => {
    const [impostor, s1] = [await serve('w2'), await serve('w1')];
    const addresses = [impostor.address, s1.address];
    // w2's valid worker certificate, at the address the coordinator announced for w0
    const ti = impostor.transport(0, 2, addresses, 1n, ['w2', 'w1']);
    const t1 = s1.transport(1, 2, addresses, 1n, ['w0', 'w1']);
    const failed = await refusal(t1, 0, [1, 2]);
    assert.match(failed, /the server's certificate is not the announced worker's/);
    await assert.rejects(ti.recv(1, 1, 1000), /timed out|cannot complete/);
  });

  it('fails closed when the coordinator announced no certificate name for a rank', async () => {
    const [s0, s1] = [await serve('w0'), await serve('w1')];
    const addresses = [s0.address, s1.address];
    // rank 0 knows no names, rank 1 knows both: neither direction carries a value
    const t0 = s0.transport(0, 2, addresses, 1n, []);
    const t1 = s1.transport(1, 2, addresses, 1n, ['w0', 'w1']);
    assert.match(await refusal(t0, 1, [3]), /the server's certificate is not the announced worker's/);
    const refused = await refusal(t1, 0, [5]);
    assert.ok(refused.includes(generic), refused);
  });
});

/**
 * Shutdown against strangers: raw TCP connections that never speak (half of them do not even
 * read, so they never answer the server's FIN), held open to the
 * coordinator's gRPC port and to the workers' data and Peer ports while a small job runs, do not
 * keep any process alive: the coordinator and its workers exit within 2 s of the job's end (the
 * coordinator's last epoch line), and the job completes. The handshake timeout is raised for
 * those runs so that the strangers are still there when the job ends, however loaded the machine;
 * a last test checks the timeout itself on a coordinator waiting for workers.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { silentClient } from '@permafrost/transport-tcp/testing';
import { alive, childrenOf, jobFlags, runPaths, startCli, tempDir } from './support';

const tmp = tempDir('shutdown');
const EPOCHS = 3;
/** the bound: every process is gone this long after the job's end */
const EXIT_BOUND_MS = 2000;

/** a small job: a few seconds after its workers join on a quiet machine */
const job = (name: string) =>
  jobFlags({ model: 'mlp', inputSize: 14, trainSamples: 480, valSamples: 60, epochs: EPOCHS, batchSize: 48, ...runPaths(tmp.path, name) });

/** When each of `pids` exited (ms since the epoch), checked every 20 ms for at most `forMs`. */
function exitTimes(pids: number[], forMs: number): Promise<number[]> {
  const at = pids.map(() => 0);
  const t0 = Date.now();
  return new Promise((done) => {
    const timer = setInterval(() => {
      for (const [i, pid] of pids.entries()) if (at[i] === 0 && !alive(pid)) at[i] = Date.now();
      if (at.every((t) => t > 0) || Date.now() - t0 > forMs) {
        clearInterval(timer);
        done(at.map((t) => t || Number.POSITIVE_INFINITY));
      }
    }, 20);
  });
}

/**
 * Runs the job with raw connections to the addresses `spread(ports)` lists, opened once both workers have joined; returns
 * how long after the job's end each process exited and how many connections were still open then.
 */
async function runWithStrangers(name: string, spread: (ports: { coordinator: string; workers: string[] }) => string[]) {
  // the flag reaches the local workers' ports too: strangers there would otherwise be cut after 5 s
  const c = startCli(['coordinator', 'start', '--local-workers', '2', '--handshake-timeout-ms', '120000', ...job(name)]);
  try {
    const coordinator = JSON.parse(await c.waitFor(/"msg":"coordinator listening"/)).address as string;
    await c.waitFor(/"msg":"worker joined".*"rank":1|"rank":1.*"msg":"worker joined"/, 90_000);
    await c.waitFor(/"msg":"worker joined".*"rank":0|"rank":0.*"msg":"worker joined"/);
    const joined = c
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"msg":"worker joined"'));
    const workers = joined.flatMap((l) => [JSON.parse(l).data as string, JSON.parse(l).peer as string]);
    const strangers = await Promise.all(spread({ coordinator, workers }).map((a, i) => silentClient(a, i % 2 === 0)));
    const pids = childrenOf(c.child.pid as number, / worker start /);
    assert.equal(pids.length, 2, `worker processes: ${pids}`);
    const workerExits = exitTimes(pids, 60_000);
    const exit = await c.exit;
    assert.equal(exit.code, 0, c.stderr());
    const end = c
      .stderr()
      .split('\n')
      .find((l) => l.includes(`"msg":"epoch ${EPOCHS}/${EPOCHS}"`));
    assert.ok(end, c.stderr());
    const endAt = Date.parse(JSON.parse(end).time);
    // the clients that read see when their connection ended
    const readers = strangers.filter((_, i) => i % 2 === 0);
    const heldAtEnd = (await Promise.all(readers.map((s) => Promise.race([s.closed, Date.now()])))).filter((t) => t > endAt).length;
    return {
      coordinatorMs: exit.at - endAt,
      workerMs: (await workerExits).map((t) => t - endAt),
      heldAtEnd,
      readers: readers.length,
      total: strangers.length,
      log: c.stderr(),
    };
  } finally {
    c.child.kill('SIGKILL');
    await c.exit;
  }
}

describe('shutdown against strangers', () => {
  it('idle connections to the coordinator and a worker: every process exits within 2 s of the end', async (t) => {
    // one that reads and one that does not, to each port
    const r = await runWithStrangers('one', ({ coordinator, workers }) => [
      coordinator,
      coordinator,
      workers[0] as string,
      workers[0] as string,
    ]);
    const { log, ...times } = r;
    t.diagnostic(`after the end: ${JSON.stringify(times)}`);
    // the connections were still held when the job ended, so the exits below are shutdown's doing
    assert.equal(r.heldAtEnd, 2, JSON.stringify(times));
    assert.equal(r.total, 4);
    assert.ok(r.coordinatorMs < EXIT_BOUND_MS, `coordinator exited ${r.coordinatorMs} ms after the end`);
    for (const ms of r.workerMs) assert.ok(ms < EXIT_BOUND_MS, `a worker exited ${ms} ms after the end`);
    assert.ok(existsSync(runPaths(tmp.path, 'one').report));
  });

  it('200 held connections over every port: the job completes and every process exits within 2 s', async (t) => {
    // 140 to the coordinator (more than the 128 it lets wait at once), 15 to each worker's data and Peer port
    const r = await runWithStrangers('many', ({ coordinator, workers }) => [
      ...Array.from({ length: 140 }, () => coordinator),
      ...workers.flatMap((w) => Array.from({ length: 15 }, () => w)),
    ]);
    const { log, ...times } = r;
    t.diagnostic(`after the end: ${JSON.stringify(times)}`);
    assert.equal(r.total, 200);
    // the coordinator's oldest strangers made room for newer ones, and it said so
    assert.match(log, /"msg":"closed a connection that did not complete its handshake.*"why":"more than 128 connections were waiting/);
    assert.ok(r.heldAtEnd >= 75, `${r.heldAtEnd} of ${r.readers} reading connections were held until the end`);
    assert.ok(r.coordinatorMs < EXIT_BOUND_MS, `coordinator exited ${r.coordinatorMs} ms after the end`);
    for (const ms of r.workerMs) assert.ok(ms < EXIT_BOUND_MS, `a worker exited ${ms} ms after the end`);
    assert.ok(existsSync(runPaths(tmp.path, 'many').report));
  });

  it('cuts a connection that never speaks after the handshake timeout', async () => {
    const c = startCli(['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '1', ...job('idle')], {
      PERMAFROST_HANDSHAKE_TIMEOUT_MS: '500',
    });
    try {
      const address = JSON.parse(await c.waitFor(/"msg":"coordinator listening"/)).address as string;
      const t0 = Date.now();
      const stranger = await silentClient(address);
      const cutAt = await stranger.closed;
      assert.ok(cutAt - t0 >= 450 && cutAt - t0 < 5000, `cut after ${cutAt - t0} ms`);
      assert.match(await c.waitFor(/did not complete its handshake/), /"why":"no handshake within 500 ms"/);
    } finally {
      c.child.kill('SIGKILL');
      await c.exit;
    }
  });
});

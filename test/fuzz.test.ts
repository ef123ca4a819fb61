/**
 * Fuzzing a running job (issue 17): 10,000 random and mutated frames at a worker's data port and
 * at the coordinator's gRPC port, plaintext and over TLS with another CA's certificate, while a
 * fleet of two trains. No process crashes and the job ends with the same weights, bit for bit, as
 * the same fleet without the fuzzing. A frame counts as sent once the connection it went on was
 * open (connected, or its TLS handshake done on the client's side) and the write was handed to
 * the socket; every frame is sent while the job runs (the test fails if the job ends first).
 * Senders run LANES connections at a time, each carrying up to 64 frames in one write (a
 * connection costs far more than its bytes: one in three is a TLS handshake with a stranger's
 * certificate).
 * PERMAFROST_FUZZ_FRAMES sets the count (default 10,000).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { initEngine } from '@permafrost/engine';
import { type EphemeralCertificates, ephemeralCertificates, readTlsFiles } from '@permafrost/security';
import { encodeHello, encodeStop, payloadBytes } from '@permafrost/transport-tcp/testing';
import { attacker, checkpointWeights, maxAbsDiff, runPaths, smallFleetJob, startCli, tempDir, testTls } from './support';

const tmp = tempDir('fuzz');
const FRAMES = Number(process.env.PERMAFROST_FUZZ_FRAMES ?? 10_000);
/** connections open at once: enough to keep both ports busy, few enough to stay far below the guards' caps */
const LANES = 16;
/** the most frames one connection carries */
const PER_CONNECTION = 64;
/** a connection not open by then (connected, or its TLS handshake done) is given up */
const OPEN_MS = 2000;
/**
 * after its write, a connection the server has not closed by then is closed by the sender: a cut
 * frame keeps the server waiting for the rest, and the fuzzing must end well within the job
 */
const LINGER_MS = 200;

/**
 * 10 epochs: every frame must go out while the job runs, and on an idle machine the fuzzing takes
 * as long as 3 to 5 epochs (its connections wait on the workers' event loops, busy training)
 */
const job = (name: string) => smallFleetJob(tmp.path, name, 9, { epochs: 10 });
/** each fleet process is killed after this long: a shared 2-vCPU machine can take minutes for a fleet */
const KILL_AFTER_MS = 600_000;

/** A valid-looking frame, then mutated: bytes flipped, cut short, or replaced by noise. */
function mutatedFrame(): Buffer {
  const pick = randomInt(4);
  const base =
    pick === 0
      ? encodeHello({ generation: BigInt(randomInt(3)), from: randomInt(3), to: randomInt(3), workerId: randomInt(2) ? 'w-a' : 'w-b' })
      : pick === 1
        ? encodeStop(3, randomInt(1000), 'x'.repeat(randomInt(64)))
        : pick === 2
          ? payloadBytes(new Float32Array(randomInt(1, 256)).fill(1e30))
          : randomBytes(randomInt(1, 512));
  const b = Buffer.from(base);
  for (let i = randomInt(4); i > 0; i--) b[randomInt(b.length)] = randomInt(256);
  return randomInt(5) === 0 ? b.subarray(0, randomInt(1, b.length + 1)) : b;
}

/**
 * Sends `frames` on one connection (plaintext or TLS with a stranger's certificate), in one write;
 * resolves with how many were handed to an open socket (0 when it never opened) once it closes.
 */
function connection(address: string, frames: Buffer[], stranger: EphemeralCertificates | undefined): Promise<number> {
  const i = address.lastIndexOf(':');
  const to = { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
  return new Promise((done) => {
    let written = 0;
    const s = stranger ? tlsConnect({ ...to, ...readTlsFiles(stranger.worker(0)), rejectUnauthorized: false }) : netConnect(to);
    let timer = setTimeout(() => s.destroy(), OPEN_MS);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      done(written);
    });
    s.on(stranger ? 'secureConnect' : 'connect', () => {
      if (s.destroyed) return;
      s.end(Buffer.concat(frames));
      written = frames.length;
      clearTimeout(timer);
      timer = setTimeout(() => s.destroy(), LINGER_MS);
    });
  });
}

/** Fires `count` frames at the addresses, LANES connections at a time; resolves with the frames sent. */
async function fuzz(addresses: string[], count: number, stranger: EphemeralCertificates): Promise<number> {
  let sent = 0;
  let attempts = 0;
  const lane = async () => {
    // bounded: a port that refuses every connection ends the loop after as many tries as frames
    while (sent < count && attempts++ < count) {
      const frames = Array.from({ length: randomInt(1, Math.min(PER_CONNECTION, count - sent) + 1) }, mutatedFrame);
      sent += await connection(addresses[randomInt(addresses.length)] as string, frames, randomInt(3) === 0 ? stranger : undefined);
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  return sent;
}

/** Runs the fleet (coordinator + workers w-a and w-b); `during` runs once both have joined. */
async function fleet(name: string, during?: (coordinator: string, dataPorts: string[], running: () => boolean) => Promise<void>) {
  const c = startCli(
    ['coordinator', 'start', '--listen', '127.0.0.1:0', '--min-workers', '2', ...job(name)],
    {},
    { killAfterMs: KILL_AFTER_MS },
  );
  const address = JSON.parse(await c.waitFor(/coordinator listening/)).address as string;
  const workers = ['w-a', 'w-b'].map((id) =>
    startCli(
      ['worker', 'start', '--coordinator', address, '--id', id, '--cache-dir', join(tmp.path, name, id)],
      {},
      { killAfterMs: KILL_AFTER_MS },
    ),
  );
  try {
    await Promise.all(workers.map((w) => w.waitFor(/allreduce transport/, 90_000)));
    if (during) {
      const tool = attacker(address, { tls: testTls('tool') });
      const status = await tool.status();
      tool.close();
      const dataPorts = 'ok' in status ? status.ok.workers.map((w) => w.dataAddress) : [];
      assert.equal(dataPorts.length, 2);
      let ended = false;
      void c.exit.then(() => {
        ended = true;
      });
      await during(address, dataPorts, () => !ended);
    }
    const exits = await Promise.all([c.exit, ...workers.map((w) => w.exit)]);
    assert.deepEqual(
      exits.map((e) => e.code),
      [0, 0, 0],
      c.stderr(),
    );
    return checkpointWeights(runPaths(tmp.path, name).checkpointDir);
  } finally {
    for (const p of [c, ...workers]) p.child.kill('SIGKILL');
  }
}

describe('fuzzing a running job', () => {
  // checkpointWeights builds the model to read the weights
  before(() => initEngine('wasm'));
  it(`${FRAMES} random and mutated frames at the data and control ports change nothing`, async () => {
    const stranger = await ephemeralCertificates(1, 'fuzzer');
    after(() => stranger.remove());
    const clean = await fleet('clean');
    let sent = 0;
    let fuzzMs = 0;
    const fuzzed = await fleet('fuzzed', async (coordinator, dataPorts, running) => {
      const t0 = Date.now();
      sent = await fuzz([...dataPorts, coordinator], FRAMES, stranger);
      fuzzMs = Date.now() - t0;
      assert.equal(running(), true, `the job ended before the fuzzing did (${sent} frames in ${fuzzMs} ms)`);
    });
    process.stderr.write(`fuzz: ${sent} frames in ${fuzzMs} ms\n`);
    assert.ok(sent >= FRAMES, `${sent} of ${FRAMES} frames sent`);
    assert.equal(maxAbsDiff(clean, fuzzed), 0);
  });
});

/**
 * What grpc-js moves with nothing on top, the reference for the allreduce benchmark: bytes in
 * 1 MiB messages over client-streaming calls, identity serialization (no protobuf, no
 * reduction), the Peer service's server and channel options. A call is timed from its start to
 * the server's response, which carries the byte count.
 *
 *   p2p        one process sends, another receives: a core each.
 *   both ways  two processes send to each other at the same time, as every rank of a 2-ring
 *              does; a repetition lasts until both have sent and received everything. This is
 *              the most a ring's transport could reach on this machine.
 *
 * Each function here is one child process's role; the parent (allreduce.ts) pairs them up.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Client, credentials, type MethodDefinition, type ServerReadableStream, type sendUnaryData } from '@grpc/grpc-js';
import { bindGrpcServer, GRPC_PEER_CHANNEL_OPTIONS, newGrpcServer } from '@permafrost/transport-grpc';

const MiB = 1024 * 1024;
const identity = (b: Buffer) => b;
const upload: MethodDefinition<Buffer, Buffer> = {
  path: '/permafrost.bench.Raw/Upload',
  requestStream: true,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
};

/** One timed round: wall milliseconds, and the CPU milliseconds this process spent (all threads). */
export interface Round {
  ms: number;
  cpuMs: number;
}

/** Runs `fn` and measures it. */
export async function measured(fn: () => Promise<unknown>): Promise<Round> {
  const [t0, c0] = [performance.now(), process.cpuUsage()];
  await fn();
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
}

export interface RoleContext {
  emit(v: unknown): void;
  /** per size in bytes: an untimed round, then the timed ones */
  timeSizes(round: (bytes: number) => Promise<Round>): Promise<unknown>;
  warmupRounds: number;
}

/**
 * A server that answers every upload with its byte count; `onUpload` hears of each one with the
 * CPU milliseconds the process spent while it came in.
 */
async function counter(onUpload: (cpuMs: number) => void = () => undefined): Promise<{ address: string; close(): Promise<void> }> {
  const server = newGrpcServer();
  server.addService(
    { upload },
    {
      upload: (call: ServerReadableStream<Buffer, Buffer>, respond: sendUnaryData<Buffer>) => {
        const c0 = process.cpuUsage();
        let bytes = 0;
        call.on('data', (b: Buffer) => {
          bytes += b.length;
        });
        call.on('end', () => {
          respond(null, Buffer.from(String(bytes)));
          const c = process.cpuUsage(c0);
          onUpload((c.user + c.system) / 1000);
        });
      },
    },
  );
  return bindGrpcServer(server, '127.0.0.1:0');
}

/** Uploads `bytes` to `address` in 1 MiB messages, honouring backpressure; resolves with the milliseconds. */
function uploader(address: string): { send(bytes: number): Promise<number>; close(): void } {
  const client = new Client(address, credentials.createInsecure(), GRPC_PEER_CHANNEL_OPTIONS);
  const chunk = Buffer.alloc(MiB, 1);
  const send = async (bytes: number) => {
    const t0 = performance.now();
    const counted = await new Promise<number>((done, fail) => {
      const call = client.makeClientStreamRequest(upload.path, identity, identity, (e, r) =>
        e || !r ? fail(e) : done(Number(r.toString())),
      );
      void (async () => {
        for (let sent = 0; sent < bytes; sent += MiB) {
          if (!call.write(chunk.subarray(0, Math.min(MiB, bytes - sent)))) await once(call, 'drain');
        }
        call.end();
      })().catch(fail);
    });
    if (counted !== bytes) throw new Error(`the receiver counted ${counted} bytes, ${bytes} were sent`);
    return performance.now() - t0;
  };
  return { send, close: () => client.close() };
}

/** p2p, receiving side: serves until the parent closes stdin, then reports each upload's CPU milliseconds. */
export async function p2pRecvRole(ctx: RoleContext): Promise<void> {
  const cpuMs: number[] = [];
  const server = await counter((ms) => cpuMs.push(ms));
  ctx.emit({ address: server.address });
  process.stdin.resume();
  await once(process.stdin, 'end');
  ctx.emit({ cpuMs });
  await server.close();
}

/** p2p, sending side: times the uploads to `address`. */
export async function p2pSendRole(ctx: RoleContext, address: string): Promise<void> {
  const up = uploader(address);
  for (let i = 0; i < ctx.warmupRounds; i++) await up.send(MiB);
  ctx.emit({ results: await ctx.timeSizes((bytes) => measured(() => up.send(bytes))) });
  up.close();
}

/**
 * Both ways: serves, learns the other process's address on stdin, then every round uploads to
 * it while it uploads here; a round ends once both uploads are complete.
 */
export async function bothWaysRole(ctx: RoleContext): Promise<void> {
  let arrived = 0;
  let wake: (() => void) | undefined;
  const server = await counter(() => {
    arrived++;
    wake?.();
  });
  ctx.emit({ address: server.address });
  const [line] = (await once(createInterface({ input: process.stdin }), 'line')) as [string];
  const up = uploader(JSON.parse(line) as string);
  let expected = 0;
  const round = (bytes: number) =>
    measured(() => {
      expected++;
      const received = new Promise<void>((done) => {
        wake = () => {
          if (arrived >= expected) done();
        };
        wake();
      });
      return Promise.all([up.send(bytes), received]);
    });
  for (let i = 0; i < ctx.warmupRounds; i++) await round(MiB);
  const results = await ctx.timeSizes(round);
  // the other process may still be receiving our last upload: answer, then wait to be let go
  ctx.emit({ results });
  process.stdin.resume();
  await once(process.stdin, 'end');
  up.close();
  await server.close();
}

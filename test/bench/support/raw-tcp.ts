/**
 * What node:net moves with nothing on top, the TCP reference for the allreduce benchmark: one
 * process sends, another receives (a core each), the same sizes as the ring, in 1 MiB writes
 * honouring backpressure, Nagle off. An upload is an 8-byte length, then the bytes; the receiver
 * counts them and answers with one byte once all have arrived, which ends the timing.
 *
 * Each function here is one child process's role; the parent (allreduce.ts) pairs them up.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { measured, type RoleContext } from './raw-grpc';

const MiB = 1024 * 1024;

/** p2p over TCP, receiving side: serves until the parent closes stdin, then reports each upload's CPU milliseconds. */
export async function tcpRecvRole(ctx: RoleContext): Promise<void> {
  const cpuMs: number[] = [];
  const server = createServer({ noDelay: true }, (socket) => {
    let expected = -1;
    let got = 0;
    let header = Buffer.alloc(0);
    let c0 = process.cpuUsage();
    socket.on('data', (d: Buffer) => {
      let data = d;
      if (expected < 0) {
        header = Buffer.concat([header, data]);
        if (header.length < 8) return;
        expected = Number(header.readBigUInt64LE(0));
        data = header.subarray(8);
        header = Buffer.alloc(0);
      }
      got += data.length;
      if (got === expected) {
        socket.write(Buffer.from([1]));
        const c = process.cpuUsage(c0);
        cpuMs.push((c.user + c.system) / 1000);
        expected = -1;
        got = 0;
        c0 = process.cpuUsage();
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  ctx.emit({ address: `127.0.0.1:${(server.address() as AddressInfo).port}` });
  process.stdin.resume();
  await once(process.stdin, 'end');
  ctx.emit({ cpuMs });
  server.close();
}

/** Uploads `bytes` on `socket` in 1 MiB writes; resolves once the receiver confirms. */
async function upload(socket: Socket, chunk: Buffer, bytes: number): Promise<void> {
  const ack = once(socket, 'data');
  const header = Buffer.alloc(8);
  header.writeBigUInt64LE(BigInt(bytes));
  socket.write(header);
  for (let sent = 0; sent < bytes; sent += MiB) {
    if (!socket.write(chunk.subarray(0, Math.min(MiB, bytes - sent)))) await once(socket, 'drain');
  }
  await ack;
}

/** p2p over TCP, sending side: times the uploads to `address`. */
export async function tcpSendRole(ctx: RoleContext, address: string): Promise<void> {
  const [host, port] = address.split(':') as [string, string];
  const socket = connect({ host, port: Number(port), noDelay: true });
  await once(socket, 'connect');
  const chunk = Buffer.alloc(MiB, 1);
  for (let i = 0; i < ctx.warmupRounds; i++) await upload(socket, chunk, MiB);
  ctx.emit({ results: await ctx.timeSizes((bytes) => measured(() => upload(socket, chunk, bytes))) });
  socket.destroy();
}

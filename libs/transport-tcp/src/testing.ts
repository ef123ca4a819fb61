/**
 * Test support for servers facing strangers (`@permafrost/transport-tcp/testing`, never imported
 * by production code): a raw TCP client that connects and never speaks.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after } from 'node:test';

const opened: Socket[] = [];
after(() => {
  for (const s of opened) s.destroy();
});

/**
 * Connects to `address` (HOST:PORT) and never writes; resolves once connected. It reads (and
 * drops) what comes, or it would never notice the server's end of the connection; `closed`
 * resolves with the time it did. Destroyed when the test file ends.
 */
export async function silentClient(address: string): Promise<{ socket: Socket; closed: Promise<number> }> {
  const i = address.lastIndexOf(':');
  const socket = connect(Number(address.slice(i + 1)), address.slice(0, i));
  opened.push(socket);
  socket.on('error', () => undefined);
  socket.resume();
  // (events.once would reject on the reset a destroyed connection may see)
  const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now())));
  await once(socket, 'connect');
  return { socket, closed };
}

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
 * Connects to `address` (HOST:PORT) and never writes; resolves once connected. With `read` (the
 * default) it reads and drops what comes, and `closed` resolves with the time the connection
 * ended; without, it does not even read (the harder peer for a server that closes: it never
 * sees the server's FIN, so it never sends its own), and `closed` stays pending. Destroyed when
 * the test file ends.
 */
export async function silentClient(address: string, read = true): Promise<{ socket: Socket; closed: Promise<number> }> {
  const i = address.lastIndexOf(':');
  const socket = connect(Number(address.slice(i + 1)), address.slice(0, i));
  opened.push(socket);
  socket.on('error', () => undefined);
  if (read) socket.resume();
  // (events.once would reject on the reset a destroyed connection may see)
  const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now())));
  await once(socket, 'connect');
  return { socket, closed };
}

// For tests that speak the data-plane protocol at a worker's data port themselves (forged or
// mutated frames): the frame encoders, as a worker writes them.
export { encodeHello, encodeStop, payloadBytes } from './protocol';

/**
 * The data plane's sockets, plaintext or mutual TLS (docs/distributed.md#security). With TLS
 * material both ends present a certificate of the job CA and check the other's: the data server
 * admits a connection only once the handshake has verified a worker's certificate, so not a byte
 * of it is read before that, and then admits its HELLO only when the certificate's name is the one
 * the coordinator announced for the worker the HELLO claims to be (tcp-transport.ts `admit`). The
 * dialing side checks that it reached the worker the coordinator announced at that address: a
 * worker certificate of that name. Host names are not checked: a ring neighbour's address comes
 * from the coordinator over the authenticated control plane, and the job CA, the role and the
 * name prove who answers. The shared-memory offer travels inside the encrypted connection; the
 * values in the segment never touch the network.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { connect as netConnect, createServer as netServer, type Server, type Socket } from 'node:net';
import {
  type PeerCertificate,
  type SecureContextOptions,
  type TLSSocket,
  connect as tlsConnect,
  createServer as tlsServer,
} from 'node:tls';
import { certRefreshMs, identityOf, type TlsFiles } from '@permafrost/security';
import type { ConnectionGuard } from './connection-guard';

/** how long a TLS handshake on the data plane may take, ms */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export type DataTls = Required<Pick<SecureContextOptions, 'ca' | 'cert' | 'key'>>;
/** what a receiver dials with: its material, and the name the sender's worker certificate must carry */
export type DialTls = DataTls & { serverName: string };

/** Reads the TLS files once (the data server's start; a rotation is picked up by reloadTls). */
export function dataTlsOf(files: TlsFiles | undefined): DataTls | undefined {
  if (!files) return undefined;
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

const isWorker = (cert: PeerCertificate | undefined) => identityOf(cert)?.role === 'worker';

/** The name on a TLS socket's verified worker certificate; undefined for a plaintext socket. */
export function certificateNameOf(socket: Socket): string | undefined {
  return 'getPeerCertificate' in socket ? identityOf((socket as TLSSocket).getPeerCertificate())?.name : undefined;
}

/** the peer's address and port: a TLS socket and the TCP socket under it answer the same */
const peerKey = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;

/**
 * A data server calling `onSocket` for each connection: at once, or after a verified handshake.
 * With TLS, every TCP connection is pending under `handshakes` (when given) until its TLS
 * handshake completes: the guard's deadline and cap bound the connections a stranger can hold in
 * the handshake (silent ones that never send a ClientHello included), as it bounds those that
 * never send a HELLO.
 */
export function createDataServer(tls: DataTls | undefined, onSocket: (s: Socket) => void, handshakes?: ConnectionGuard): Server {
  if (!tls) return netServer(onSocket);
  const raw = new Map<string, Socket>();
  const server = tlsServer(
    { ...tls, requestCert: true, rejectUnauthorized: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
    (s: TLSSocket) => {
      const under = raw.get(peerKey(s));
      if (under) handshakes?.admit(under);
      if (!s.authorized || !isWorker(s.getPeerCertificate())) {
        s.destroy();
        return;
      }
      onSocket(s);
    },
  );
  server.on('connection', (s: Socket) => {
    const key = peerKey(s);
    raw.set(key, s);
    s.once('close', () => raw.delete(key));
    handshakes?.accept(s);
  });
  // a failed handshake (no certificate, another CA, expired) is the client's problem, not ours
  server.on('tlsClientError', () => undefined);
  return server;
}

/**
 * Serves new connections with the files' current contents whenever one of them changes (a
 * certificate renewed in place), looking every `pollMs` (default certRefreshMs()), and hands the
 * new material to `onReload` (the dialing side: connections of the next membership present the
 * renewed certificate); a half-written set is skipped until the next change. Returns the function
 * that stops watching.
 */
export function reloadOnChange(
  server: Server,
  files: TlsFiles | undefined,
  pollMs = certRefreshMs(),
  onReload: (tls: DataTls) => void = () => undefined,
): () => void {
  if (!files || !('setSecureContext' in server)) return () => undefined;
  const reload = () => {
    try {
      const tls = dataTlsOf(files) as DataTls;
      (server as ReturnType<typeof tlsServer>).setSecureContext(tls);
      onReload(tls);
    } catch {
      // a key that does not match its certificate yet: the next change completes the set
    }
  };
  const paths = [files.ca, files.cert, files.key];
  for (const p of paths) watchFile(p, { interval: pollMs, persistent: false }, reload);
  return () => {
    for (const p of paths) unwatchFile(p, reload);
  };
}

/**
 * Dials a data server. Plaintext sockets read into `buffer` (one reused buffer, no allocation per
 * read); TLS sockets hand over the decrypted bytes as they come.
 */
export function dialData(
  tls: DialTls | undefined,
  to: { host: string; port: number },
  buffer: () => Buffer,
  onBytes: (data: Buffer, length: number) => void,
): Socket {
  if (!tls) {
    return netConnect({
      ...to,
      noDelay: true,
      onread: {
        buffer: buffer(),
        callback: (n: number) => {
          onBytes(buffer(), n);
          return true;
        },
      },
    });
  }
  const { serverName, ...material } = tls;
  const s = tlsConnect({
    ...to,
    ...material,
    checkServerIdentity: (_host, cert) => {
      const id = identityOf(cert);
      if (id?.role !== 'worker') return new Error("the data server's certificate is not a worker's");
      // an empty name (none announced) matches no certificate
      return id.name === serverName && serverName !== ''
        ? undefined
        : new Error("the data server's certificate is not the announced worker's");
    },
  });
  s.setNoDelay(true);
  s.on('data', (d: Buffer) => onBytes(d, d.length));
  // node:tls 'connect' is the TCP connection's; the owner counts as connected from 'secureConnect'
  return s;
}

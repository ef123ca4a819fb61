/**
 * TLS for every gRPC server and channel of Permafrost (docs/distributed.md#security).
 *
 * Servers take their certificate, key and the job CA from files through grpc-js's
 * FileWatcherCertificateProvider, which reads them again every `refreshMs`: a rotated
 * certificate (cert-manager renews a Secret's files in place) is served to new connections
 * without a restart. A server asks every client for a certificate of the job CA; it refuses a
 * client without one in the TLS handshake, unless the server also accepts a job token (then such
 * a client gets as far as the handler check, which lets it call only what a token may).
 *
 * Channels verify the server's certificate against the job CA, its host name, and the role it
 * names (a worker joins only a coordinator), for a ring peer also the name the coordinator
 * announced for the worker dialed, and present their own certificate when they have one. A long-lived channel (a worker's to its coordinator) reads its files through the same kind
 * of provider, so a connection it opens after a rotation presents the renewed certificate.
 * Without TLS files a server or channel is plaintext (`--insecure`).
 */
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { type ChannelCredentials, credentials, experimental, ServerCredentials } from '@grpc/grpc-js';
import { certRefreshMs, identityOf, type Role, readTlsFiles, type TlsFiles } from '@permafrost/security';

export interface ServerTls {
  files: TlsFiles;
  /** whether a client without a certificate of the CA may connect (to present a token instead) */
  allowWithoutCertificate?: boolean;
  /** how often the files are read again (default certRefreshMs(): PERMAFROST_CERT_REFRESH_MS or a minute) */
  refreshMs?: number;
}

/**
 * The server's credentials: mutual TLS from the files, or plaintext without them. Resolves once
 * the files have been read: the provider reads them asynchronously, and a server bound before
 * that would drop its first connections.
 */
export async function serverCredentials(tls: ServerTls | undefined): Promise<ServerCredentials> {
  if (!tls) return ServerCredentials.createInsecure();
  // read once now, so that a missing or unreadable file is a UserError at start, not a silent refusal
  readTlsFiles(tls.files);
  const provider = new experimental.FileWatcherCertificateProvider({
    caCertificateFile: tls.files.ca,
    certificateFile: tls.files.cert,
    privateKeyFile: tls.files.key,
    refreshIntervalMs: tls.refreshMs ?? certRefreshMs(),
  });
  // The provider keeps what it read and hands it to the server's own listener when it binds.
  await new Promise<void>((done) => {
    const first = () => {
      provider.removeIdentityCertificateListener(first);
      done();
    };
    provider.addIdentityCertificateListener(first);
  });
  return experimental.createCertificateProviderServerCredentials(provider, provider, !tls.allowWithoutCertificate);
}

export interface ChannelTls {
  /** the CA, and this client's certificate and key (a tool with a token may have no certificate) */
  files: Pick<TlsFiles, 'ca'> & Partial<Pick<TlsFiles, 'cert' | 'key'>>;
  /** the role the server's certificate must name */
  serverRole: Role;
  /**
   * whether the server's certificate must also name the host dialed (the coordinator's, as any
   * TLS client checks); ring peers are dialed at addresses the coordinator handed out over the
   * authenticated control plane, and proven by the job CA and their role alone
   */
  checkHost?: boolean;
  /**
   * the name the server's certificate must carry: a ring peer's, as the coordinator announced it
   * (PeerInfo.identity); an empty name (none announced) matches no certificate
   */
  serverName?: string;
  /** how often the files are read again while the channel lives (default certRefreshMs()) */
  refreshMs?: number;
}

/**
 * The channel's credentials: TLS verifying the server's role, or plaintext without files. The
 * files are read once now (a missing one is a UserError at once), then by a provider every
 * `refreshMs` while the channel lives: every connection the channel opens presents the
 * certificate the files hold at that time.
 */
export function channelCredentials(tls: ChannelTls | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  const { ca, cert, key } = tls.files;
  readTlsFiles({ ca, cert: cert ?? ca, key: key ?? ca });
  const own = cert !== undefined && key !== undefined;
  const provider = new experimental.FileWatcherCertificateProvider({
    caCertificateFile: ca,
    ...(own ? { certificateFile: cert, privateKeyFile: key } : {}),
    refreshIntervalMs: tls.refreshMs ?? certRefreshMs(),
  });
  return experimental.createCertificateProviderChannelCredentials(provider, own ? provider : null, {
    checkServerIdentity: (host: string, peer: PeerCertificate) => {
      const wrongHost = tls.checkHost === false ? undefined : checkServerIdentity(host, peer);
      if (wrongHost) return wrongHost;
      const who = identityOf(peer);
      if (who?.role !== tls.serverRole) return new Error(`the server's certificate is not a ${tls.serverRole}'s`);
      if (tls.serverName !== undefined && (tls.serverName === '' || who.name !== tls.serverName)) {
        return new Error(`the server's certificate is not the announced ${tls.serverRole}'s`);
      }
      return undefined;
    },
  });
}

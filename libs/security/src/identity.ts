/**
 * Who a peer is, from its verified TLS certificate: the role in the subject's OU and the name in
 * its CN (certificates.ts issues them so). Workers may call the worker methods of the control
 * plane and serve or dial the data plane; tools only the read-only methods; the coordinator's
 * certificate is what workers check they joined.
 */
import { X509Certificate } from 'node:crypto';

export const ROLES = ['coordinator', 'worker', 'tool'] as const;
export type Role = (typeof ROLES)[number];

export interface Identity {
  role: Role;
  name: string;
}

/** the part of node:tls's PeerCertificate read here */
export interface CertificateSubject {
  subject?: Record<string, string | string[] | undefined>;
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** The identity a verified certificate names, or undefined when it names no role. */
export function identityOf(cert: CertificateSubject | undefined): Identity | undefined {
  const role = first(cert?.subject?.OU);
  const name = first(cert?.subject?.CN);
  if (!role || !name || !(ROLES as readonly string[]).includes(role)) return undefined;
  return { role: role as Role, name };
}

/** The identity a PEM certificate names (a holder's own certificate file), or undefined. */
export function identityOfPem(pem: string | Buffer): Identity | undefined {
  // X509Certificate's subject is one 'KEY=value' line per attribute
  const lines = new X509Certificate(pem).subject.split('\n');
  return identityOf({ subject: Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) });
}

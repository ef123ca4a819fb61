/**
 * Who may call what on the coordinator's service (docs/distributed.md#security). With TLS every
 * call's client certificate has been verified against the job CA by the handshake; here its role
 * decides: Join, Session and Leave need a worker's certificate; Status and Watch (read-only) take
 * any certificate of the job, or the job token in the `authorization: Bearer TOKEN` header, compared
 * in constant time. A refusal is UNAUTHENTICATED (no certificate, no valid token) or
 * PERMISSION_DENIED (a certificate whose role may not call the method), and tells nothing of
 * the job. Over plaintext (`--insecure`) nobody is authenticated and only the token is checked,
 * when the job has one.
 */
import type { PeerCertificate } from 'node:tls';
import type { Metadata } from '@grpc/grpc-js';
import type { Caller, ServeSecurity } from '@permafrost/coordinator';
import { checkToken, identityOf } from '@permafrost/security';
import { PermafrostError } from '@permafrost/telemetry';

export type Access = 'worker' | 'read';

/** the part of a grpc-js server call the guard reads */
export interface GuardedCall {
  metadata: Metadata;
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

function bearer(metadata: Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  if (typeof v !== 'string' || !v.startsWith('Bearer ')) return undefined;
  return v.slice('Bearer '.length);
}

/** The caller of `method`, or a PermafrostError refusing the call. */
export function authorize(access: Access, method: string, call: GuardedCall, security: ServeSecurity): Caller {
  const presented = bearer(call.metadata);
  const tokenOk = security.token !== undefined && checkToken(security.token, presented);
  if (!security.tls) {
    if (access === 'read' && security.token !== undefined && !tokenOk) {
      throw new PermafrostError('unauthenticated', `${method} needs the job token`);
    }
    return {};
  }
  const identity = identityOf(call.getAuthContext()?.sslPeerCertificate);
  if (access === 'read') {
    if (identity || tokenOk) return identity ? { identity } : {};
    throw new PermafrostError('unauthenticated', `${method} needs a certificate of this job's CA or the job token`);
  }
  if (!identity) throw new PermafrostError('unauthenticated', `${method} needs a client certificate of this job's CA`);
  if (identity.role !== 'worker') throw new PermafrostError('permission-denied', `a ${identity.role} certificate may not call ${method}`);
  return { identity };
}

/**
 * A job's certificates: one CA per job, and certificates it issues to the coordinator, the
 * workers and tools. Built with node-forge (X.509 and PEM); the RSA keys come from node:crypto.
 *
 * A certificate's subject names who holds it: OU is the role (coordinator, worker, tool; see
 * identity.ts) and CN the holder's name. Every certificate may authenticate as a TLS client;
 * coordinator and worker certificates also serve (workers serve the data plane), with the host
 * names and addresses in `sans` as subject alternative names.
 *
 * node-forge is loaded on first use only: most processes (workers, `train`) never issue a
 * certificate and need not pay for loading it.
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type Forge from 'node-forge';
import type { Role } from './identity';

const RSA_BITS = 2048;
const DAY_MS = 86_400_000;

export interface Pem {
  cert: string;
  key: string;
}

export interface Validity {
  /** start of validity (default: an hour ago, so that clocks a little behind still accept it) */
  notBefore?: Date;
  /** how long the certificate is valid from now, days */
  days: number;
}

let loaded: Promise<typeof Forge> | undefined;
const loadForge = () => {
  loaded ??= import('node-forge').then((m) => m.default);
  return loaded;
};

async function keyPair(forge: typeof Forge): Promise<{ keys: Forge.pki.rsa.KeyPair; keyPem: string }> {
  const { privateKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: RSA_BITS,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey) as Forge.pki.rsa.PrivateKey;
  return { keys: { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) }, keyPem: privateKey };
}

/**
 * A random positive serial of 16 bytes whose first byte is 0x40-0x7f: positive without a padding
 * byte and never starting with a zero byte, so its DER INTEGER is minimal (OpenSSL refuses a
 * certificate whose serial carries a redundant leading zero, "illegal padding").
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString('hex');
}

function blank(forge: typeof Forge, publicKey: Forge.pki.PublicKey, v: Validity): Forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = v.notBefore ?? new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + v.days * DAY_MS);
  return cert;
}

/** A new job CA, valid for `v.days`. `label` goes into its name (for humans reading it). */
export async function createCa(label: string, v: Validity): Promise<Pem> {
  const forge = await loadForge();
  const { keys, keyPem } = await keyPair(forge);
  const cert = blank(forge, keys.publicKey, v);
  const name = [{ name: 'commonName', value: `permafrost job CA ${label}`.slice(0, 64) }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:]*)$/;

function altNames(sans: readonly string[]) {
  return sans.map((s) => (IP.test(s) ? { type: 7, ip: s } : { type: 2, value: s }));
}

export interface Subject {
  role: Role;
  /** CN: the holder's name (worker-0, coordinator, tool) */
  name: string;
  /** host names and IP addresses it serves under (coordinator and worker) */
  sans?: readonly string[];
}

/** A certificate and key for `subject`, signed by `ca`. */
export async function issueCertificate(ca: Pem, subject: Subject, v: Validity): Promise<Pem> {
  const forge = await loadForge();
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const { keys, keyPem } = await keyPair(forge);
  const cert = blank(forge, keys.publicKey, v);
  cert.setSubject([
    { name: 'commonName', value: subject.name },
    { name: 'organizationalUnitName', value: subject.role },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const serves = subject.role !== 'tool';
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true, serverAuth: serves },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (serves && subject.sans && subject.sans.length > 0) extensions.push({ name: 'subjectAltName', altNames: altNames(subject.sans) });
  cert.setExtensions(extensions);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

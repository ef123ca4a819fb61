/**
 * Activation keys: 8 bytes, [fingerprint id: uint32 BE][sample id: uint32 BE]. Big-endian makes
 * LMDB's byte-wise key order equal the numeric order, so one fingerprint's entries are one
 * contiguous, sample-ordered range: listing, exporting or deleting a fingerprint is a range scan.
 */
export const KEY_BYTES = 8;

export function activationKey(fingerprintId: number, sampleId: number): Buffer {
  const k = Buffer.allocUnsafe(KEY_BYTES);
  k.writeUInt32BE(fingerprintId, 0);
  k.writeUInt32BE(sampleId, 4);
  return k;
}

export function parseKey(key: Uint8Array): { fingerprintId: number; sampleId: number } {
  const v = new DataView(key.buffer, key.byteOffset, key.length);
  return { fingerprintId: v.getUint32(0), sampleId: v.getUint32(4) };
}

/** [start, end) keys covering every sample of one fingerprint. */
export function fingerprintRange(fingerprintId: number): { start: Buffer; end: Buffer } {
  return { start: activationKey(fingerprintId, 0), end: activationKey(fingerprintId + 1, 0) };
}

export type { CacheUsage, FingerprintHandle, FingerprintInfo, FingerprintRecord, Lookup } from './activation-cache';
export { ActivationCache, CacheError, ENV_FILE, MARKER } from './activation-cache';
export { checksum32 } from './checksum';
export type { FingerprintInputs } from './fingerprint';
export { fingerprintOf } from './fingerprint';
export { decodeHalf, encodeHalf, toHalfBits } from './half';
export { activationKey, fingerprintRange, parseKey } from './keys';
export type { Codec } from './value-codec';
export { decodeValue, encodedBytes, encodeValue } from './value-codec';

export type {
  CacheUsage,
  FingerprintHandle,
  FingerprintInfo,
  FingerprintRecord,
  Lookup,
  OpenOptions,
  PrefixRecipe,
} from './activation-cache';
export { ActivationCache, CacheError, ENV_FILE, MARKER } from './activation-cache';
export type { GridOptions } from './channel-grid';
export { channelGrid } from './channel-grid';
export { checksum32 } from './checksum';
export type { ExportFormat, ExportResult } from './export';
export { EXPORT_FORMATS, exportFingerprint } from './export';
export type { FingerprintInputs } from './fingerprint';
export { fingerprintOf } from './fingerprint';
export type { GcItem, GcOptions, GcReason, GcResult } from './gc';
export { collectGarbage, GcRefusedError } from './gc';
export { decodeHalf, encodeHalf, toHalfBits } from './half';
export type { EntryView, FingerprintRow, ValueSummary } from './inspect';
export { findFingerprint, fingerprintRows, showEntry, summarize } from './inspect';
export { activationKey, fingerprintRange, parseKey } from './keys';
export type { RgbImage } from './png';
export { encodePng } from './png';
export type { CacheStats, TreeSummary } from './stats';
export { cacheStats } from './stats';
export type { Codec, ValueCheck } from './value-codec';
export { decodeValue, encodedBytes, encodeValue, inspectValue } from './value-codec';
export type { WriterEntry, WriterInfo, WriterRole } from './writers';
export { listWriters, WRITERS_DIR } from './writers';

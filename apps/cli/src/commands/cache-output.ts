/**
 * The human-readable output of `permafrost cache ...` (the `--json` output is the library's
 * result objects as they are). Tables are padded columns; sizes are binary units; times are UTC
 * to the minute, as a person scanning a listing wants them.
 */
import type { CacheStats, EntryView, ExportResult, FingerprintRow, GcItem, GcResult, RepairResult } from '@permafrost/cache';
import type { VerifyReport } from '@permafrost/trainer';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

const minute = (iso: string | undefined) => (iso ? iso.slice(0, 16).replace('T', ' ') : '-');
const short = (hex: string) => hex.slice(0, 12);
const num = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(5)).toString() : String(x));

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function lsText(rows: FingerprintRow[], byId: Map<string, number>): string {
  if (rows.length === 0) return 'no fingerprints in this cache\n';
  const withCurrent = rows.some((r) => r.current !== undefined);
  const state = (r: FingerprintRow) =>
    [
      r.augment ? `view ${/view(\d+)$/.exec(r.augment)?.[1] ?? '?'}` : '',
      r.current === true ? 'current' : r.current === false ? 'not current' : '',
      r.supersededBy ? `superseded by ${byId.get(r.supersededBy) ?? short(r.supersededBy)}` : '',
    ]
      .filter(Boolean)
      .join(', ');
  return table(
    ['ID', 'FINGERPRINT', 'MODEL', 'BOUNDARY', 'DATASET', 'INPUT', 'SHAPE', 'DTYPE', 'ENTRIES', 'SIZE', 'CREATED', 'LAST USED', 'STATE'],
    rows.map((r) => [
      String(r.id),
      short(r.fingerprint),
      r.model.length > 24 ? `...${r.model.slice(-21)}` : r.model,
      r.boundary,
      r.dataset,
      String(r.inputSize),
      `[${r.shape.join(',')}]`,
      r.dtype,
      String(r.entries),
      formatBytes(r.bytes),
      minute(r.created),
      minute(r.lastUsed),
      state(r) || (withCurrent ? '' : '-'),
    ]),
  );
}

export function statsText(s: CacheStats): string {
  const looked = s.hits + s.misses;
  const l = s.lmdb;
  const rows: [string, string][] = [
    ['cache', s.dir],
    ['fingerprints', `${s.fingerprints}${s.superseded > 0 ? ` (${s.superseded} superseded)` : ''}`],
    ['entries', `${s.entries}${s.storedEntries !== s.entries ? ` recorded, ${s.storedEntries} stored` : ''}`],
    ['values', formatBytes(s.bytes)],
    ['hits / misses', `${s.hits} / ${s.misses}${looked > 0 ? ` (${((100 * s.hits) / looked).toFixed(1)}% hits)` : ''}`],
    ['checksum failures', String(s.checksumFailures)],
    ['file', `${formatBytes(l.fileBytes)} on disk, LMDB map size ${formatBytes(l.mapSize)} (${(100 * l.mapUse).toFixed(0)}% used)`],
    [
      'pages',
      `${l.pages} of ${l.pageSize} B: ${l.pagesInUse} in use, ${l.freePages} free (${formatBytes(l.freeBytes)}, reused by later writes)`,
    ],
    ['activations tree', `depth ${l.activations.depth}, ${l.activations.leafPages} leaf + ${l.activations.overflowPages} overflow pages`],
    ['readers', `${l.readers} of ${l.maxReaders} reader slots in use (this command's included)`],
    [
      'writers',
      s.writers.length === 0
        ? 'none'
        : s.writers.map((w) => `pid ${w.pid} on ${w.host} (${w.role}, since ${minute(w.started)})`).join('; '),
    ],
  ];
  return rows
    .map(([k, v]) => `${k.padEnd(18)} ${v}`)
    .join('\n')
    .concat('\n');
}

export function showText(e: EntryView, png: string | undefined): string {
  const out = [
    `fingerprint ${e.fingerprintId} (${short(e.fingerprint)}) sample ${e.sampleId}`,
    `shape        [${e.shape.join(',')}] float32, stored as ${e.codec ?? 'unknown'} in ${e.storedBytes} bytes`,
    `checksum     ${e.checksum === 'ok' ? 'ok' : `FAILED: ${e.problem}`}`,
  ];
  if (e.summary) {
    const s = e.summary;
    out.push(
      `min ${num(s.min)}  max ${num(s.max)}  mean ${num(s.mean)}  std ${num(s.std)}  zeros ${(100 * s.zeroFraction).toFixed(1)}%${s.nonFinite > 0 ? `  non-finite ${s.nonFinite}` : ''}`,
    );
  }
  if (png) out.push(`png          ${png}`);
  return `${out.join('\n')}\n`;
}

/** Entries of an older value format: neither checked nor a failure (the next run recomputes them). */
const outdated = (r: VerifyReport) =>
  r.outdated > 0 ? `; ${r.outdated} in an older value format, recomputed by the next run that reads them` : '';

export function verifyText(r: VerifyReport): string {
  const head = `${r.id} ${short(r.fingerprint)}`;
  const diffs = `max abs diff ${num(r.maxAbsDiff)}, max rel diff ${num(r.maxRelDiff)}`;
  const sample = (ids: number[]) => `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''}`;
  switch (r.status) {
    case 'ok':
      return `${head} ok: ${r.checked} of ${r.storedEntries} entries recomputed, ${diffs}${outdated(r)}\n`;
    case 'stale':
      return `${head} STALE: the model or dataset no longer match the cached entries (rebuilt fingerprint ${short(r.rebuiltFingerprint)}; changed: ${r.changed.join('; ')})\n`;
    case 'corrupt':
      return `${head} CORRUPT: ${r.corrupt.length} of ${r.checked + r.corrupt.length} entries failed the checksum (samples ${sample(r.corrupt)}); ${diffs} over the rest\n`;
    case 'mismatch':
      return `${head} MISMATCH: ${r.mismatched.length} of ${r.checked} entries differ from the recomputed values (samples ${sample(r.mismatched)}); ${diffs}\n`;
  }
}

const gcLine = (i: GcItem, byHex: Map<string, number>) =>
  `  ${i.id} ${i.fingerprint ? short(i.fingerprint) : '(no record)'} ${i.model ? `${i.model}/${i.boundary} ` : ''}${
    i.reason === 'superseded' ? `superseded by ${byHex.get(i.supersededBy ?? '') ?? short(i.supersededBy ?? '')}` : i.reason
  }${i.reason === 'unused' ? ` (last used ${minute(i.lastUsed)})` : ''}: ${i.entries} entries, ${formatBytes(i.bytes)}\n`;

export function gcText(r: GcResult, byHex: Map<string, number>): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  let out = `${verb} ${r.removed.length} fingerprint${r.removed.length === 1 ? '' : 's'}, ${r.entriesDeleted} entries, ${formatBytes(r.bytesReclaimed)}\n`;
  for (const i of r.removed) out += gcLine(i, byHex);
  for (const i of r.skipped) out += `  skipped (a run started using it): ${gcLine(i, byHex).trimStart()}`;
  out += `kept ${r.keptFingerprints} fingerprint${r.keptFingerprints === 1 ? '' : 's'}\n`;
  if (r.staleWritersRemoved > 0) out += `removed ${r.staleWritersRemoved} stale writer registration(s) of processes that are gone\n`;
  if (r.dryRun && r.liveWriters > 0) out += `note: a training run is writing this cache; gc without --dry-run would refuse\n`;
  if (!r.dryRun && r.bytesReclaimed > 0) {
    out += `cache.mdb stays ${formatBytes(r.fileBytes)}: LMDB keeps freed pages in its file and reuses them for new entries`;
    out += r.compactedTo ? '\n' : ' (--compact-to DIR writes a smaller copy)\n';
  }
  if (r.compactedTo) out += `compacted copy: ${r.compactedTo.dir} (${formatBytes(r.compactedTo.fileBytes)})\n`;
  return out;
}

export function exportText(r: ExportResult): string {
  const corrupt =
    r.corrupt.length > 0 ? `; left out ${r.corrupt.length} corrupt entries (samples ${r.corrupt.slice(0, 10).join(', ')})` : '';
  return `exported ${r.rows} rows of [${r.shape.slice(1).join(',')}] ${r.dtype} (fingerprint ${r.id}) as ${r.format}${corrupt}:\n${r.files.map((f) => `  ${f}\n`).join('')}`;
}

export function repairText(r: RepairResult): string {
  const lines = [`repaired ${r.dir}${r.out === r.dir ? '' : ` into ${r.out}`}: kept ${r.keptEntries} entries`];
  for (const f of r.fingerprints) lines.push(`  ${f.id} ${short(f.fingerprint)}: ${f.kept} entries kept`);
  if (r.damageCount > 0) lines.push(`  ${r.damageCount} damaged part(s) skipped, e.g. ${r.damage[0]}`);
  if (r.droppedValues > 0) lines.push(`  ${r.droppedValues} value(s) dropped: they failed their checks or lost their record`);
  if (r.damagedFile) lines.push(`damaged file kept as ${r.damagedFile}`);
  return `${lines.join('\n')}\n`;
}

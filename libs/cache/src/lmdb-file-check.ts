/**
 * Checks an LMDB data file against its own meta pages before lmdb maps it. LMDB maps the file and
 * trusts it: a page beyond the end of a truncated file is a SIGBUS when touched, which kills the
 * process before any error handling runs. Reading the meta pages with plain fs first turns that
 * into an error we can report.
 *
 * Layout (liblmdb's mdb.c as lmdb-js builds it, 64-bit: pgno_t, txnid_t and mdb_size_t are 8
 * bytes). A page starts with a 24-byte header: pgno u64, txnid u64, pad u16, flags u16, lower/upper
 * u16 x2. A meta page (flag P_META = 0x08) holds MDB_meta right after that header:
 *
 *   +0 magic u32 (0xBEEFC0DE)  +4 version u32 (low 16 bits: data format 2)  +8 address u64
 *   +16 mapsize u64            +24 MDB_db[2] of 48 bytes each (free db first; its first u32
 *                                  is the page size)
 *   +120 last_pg u64           +128 txnid u64
 *
 * Pages 0 and 1 are the two metas (lmdb-js's overlapping sync also writes a third at half a page;
 * it is read the same way when its magic is valid). The valid meta with the highest txnid is the
 * current one; the file must hold every page up to its last_pg.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DATA_VERSION, MAGIC, MAX_PAGE, MIN_PAGE, P_META, PAGE_HEADER } from './lmdb-layout';

export interface LmdbMeta {
  pageSize: number;
  lastPage: number;
  txnid: number;
  mapSize: number;
  /** bytes the file must have: (lastPage + 1) * pageSize */
  requiredBytes: number;
}

export interface LmdbFileCheck {
  ok: boolean;
  fileBytes: number;
  meta?: LmdbMeta;
  /** what is wrong, when not ok */
  problem?: string;
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, offset);
  return buf.subarray(0, n);
}

/** The meta at `offset`, or undefined when it is not a valid one. */
function metaAt(fd: number, offset: number, requireFlag: boolean): LmdbMeta | undefined {
  const b = readAt(fd, offset, PAGE_HEADER + 136);
  if (b.length < PAGE_HEADER + 136) return undefined;
  if (requireFlag && (b.readUInt16LE(18) & P_META) === 0) return undefined;
  const m = PAGE_HEADER;
  if (b.readUInt32LE(m) !== MAGIC || (b.readUInt32LE(m + 4) & 0xffff) !== DATA_VERSION) return undefined;
  const pageSize = b.readUInt32LE(m + 24);
  if (pageSize < MIN_PAGE || pageSize > MAX_PAGE || (pageSize & (pageSize - 1)) !== 0) return undefined;
  const lastPage = Number(b.readBigUInt64LE(m + 120));
  const txnid = Number(b.readBigUInt64LE(m + 128));
  const mapSize = Number(b.readBigUInt64LE(m + 16));
  return { pageSize, lastPage, txnid, mapSize, requiredBytes: (lastPage + 1) * pageSize };
}

/** Reads the metas of the LMDB data file `path` and checks the file is long enough for them. */
export function checkLmdbFile(path: string): LmdbFileCheck {
  const fd = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    if (fileBytes === 0) return { ok: true, fileBytes }; // LMDB initialises an empty file itself
    const first = metaAt(fd, 0, true);
    if (!first) return { ok: false, fileBytes, problem: 'page 0 is not an LMDB meta page (bad magic, version or page size)' };
    const metas = [first, metaAt(fd, first.pageSize, true), metaAt(fd, first.pageSize / 2, false)].filter(
      (m): m is LmdbMeta => m !== undefined && m.pageSize === first.pageSize,
    );
    const meta = metas.reduce((a, b) => (b.txnid > a.txnid ? b : a));
    if (fileBytes < meta.requiredBytes) {
      return {
        ok: false,
        fileBytes,
        meta,
        problem: `the file is ${fileBytes} bytes but LMDB's last page ${meta.lastPage} (txn ${meta.txnid}) needs ${meta.requiredBytes}: it was truncated`,
      };
    }
    return { ok: true, fileBytes, meta };
  } finally {
    closeSync(fd);
  }
}

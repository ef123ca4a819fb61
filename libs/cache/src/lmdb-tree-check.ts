/**
 * Walks the B-trees of an LMDB data file with plain fs reads, before lmdb maps it, and checks
 * every page LMDB could follow from the current meta: the free-page tree, the main tree, and each
 * named database's tree (the `activations` and `meta` databases are nodes of the main tree).
 * LMDB trusts its pages: a damaged node that names a page beyond the file's end is a SIGBUS when
 * followed, one with a wrong page type an assertion that aborts the process. Both kill the
 * process before any error handling; this check finds the damage first, so it is reported.
 *
 * Per page it checks: the page number is within the file (<= the meta's last page) and equals the
 * number written in the page's own header, the page type (branch or leaf; overflow for big
 * values), the free-space bounds, each node's offset and size, and for a value on overflow pages
 * that its first page is an overflow page whose run fits in the file. Layout (mdb.c, 64-bit; see
 * lmdb-file-check.ts for the meta): page header pgno u64, txnid u64, pad u16, flags u16, lower
 * u16, upper u16 (an overflow page's page count u32 in their place); node pointers u16 from byte
 * 24, each the node's offset minus 24; a node is lo u16, hi u16, flags u16, ksize u16, key, data.
 * A branch node's child is lo | hi << 16 | flags << 32; a leaf node's data size is lo | hi << 16,
 * and its data is an overflow page number (F_BIGDATA) or a 48-byte MDB_db (F_SUBDATA, root at +40).
 *
 * The same walk, in salvage mode, is how `cache repair` reads a damaged file: it hands out every
 * entry of the named databases that it can reach and steps over damaged subtrees, so LMDB never
 * maps a file known to be damaged.
 *
 * The walk reads a snapshot without registering as an LMDB reader, so a writer committing twice
 * meanwhile may reuse its pages: a walk whose meta changed underneath it is repeated, and only a
 * walk over an unchanged meta can call the file damaged.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { checkLmdbFile, type LmdbMeta } from './lmdb-file-check';
import {
  DB_BYTES,
  DB_ROOT,
  F_BIGDATA,
  F_DUPDATA,
  F_SUBDATA,
  META_FREE_ROOT,
  META_MAIN_ROOT,
  NODE_HEADER,
  P_BRANCH,
  P_LEAF,
  P_LEAF2,
  P_OVERFLOW,
  PAGE_HEADER,
} from './lmdb-layout';

const NO_PAGE = 0xffffffffffffffffn;
const MAX_DEPTH = 32;

export interface TreeCheck {
  ok: boolean;
  /** branch and leaf pages read */
  pages: number;
  /** what is wrong, when not ok */
  problem?: string;
}

class Damage extends Error {}

/** Receives each readable entry of a named database (salvage mode). */
export type EntrySink = (db: string, key: Buffer, value: Buffer) => void;

class Walker {
  private readonly page: Buffer;
  private readonly seen = new Set<number>();
  pages = 0;
  /** damaged subtrees stepped over (salvage mode) */
  readonly skipped: string[] = [];

  constructor(
    private readonly fd: number,
    private readonly meta: LmdbMeta,
    private readonly sink?: EntrySink,
  ) {
    this.page = Buffer.alloc(meta.pageSize);
  }

  /** Walks a subtree; in salvage mode damage below it is recorded and stepped over. */
  private child(root: bigint, what: string, depth: number, db: string | undefined): void {
    if (!this.sink) {
      this.tree(root, what, depth, db);
      return;
    }
    try {
      this.tree(root, what, depth, db);
    } catch (e) {
      if (!(e instanceof Damage)) throw e;
      this.skipped.push(e.message);
    }
  }

  private read(pgno: number, into: Buffer, length: number): Buffer {
    if (!(pgno >= 2 && pgno <= this.meta.lastPage)) throw new Damage(`page ${pgno} is beyond the last page ${this.meta.lastPage}`);
    const n = readSync(this.fd, into, 0, length, pgno * this.meta.pageSize);
    if (n < length) throw new Damage(`page ${pgno} is cut off`);
    return into;
  }

  tree(root: bigint, what: string, depth = 0, db?: string): void {
    if (root === NO_PAGE) return; // an empty database
    if (root > BigInt(Number.MAX_SAFE_INTEGER)) throw new Damage(`${what}: page number ${root} is impossible`);
    const pgno = Number(root);
    if (this.seen.has(pgno)) throw new Damage(`${what}: page ${pgno} is reached twice`);
    if (depth > MAX_DEPTH) throw new Damage(`${what}: the tree is deeper than ${MAX_DEPTH}`);
    this.seen.add(pgno);
    this.pages++;
    // a copy: the children are walked with the same buffer
    const p = Buffer.from(this.read(pgno, this.page, this.meta.pageSize));
    const at = `${what}: page ${pgno}`;
    if (Number(p.readBigUInt64LE(0)) !== pgno) throw new Damage(`${at} says it is page ${p.readBigUInt64LE(0)}`);
    const flags = p.readUInt16LE(18);
    const lower = p.readUInt16LE(20);
    const upper = p.readUInt16LE(22);
    const size = this.meta.pageSize;
    if ((flags & (P_BRANCH | P_LEAF)) === 0 || (flags & P_BRANCH && flags & P_LEAF))
      throw new Damage(`${at} has page type 0x${flags.toString(16)}`);
    if (lower > upper || PAGE_HEADER + upper > size) throw new Damage(`${at} has free space ${lower}..${upper}`);
    if (flags & P_LEAF2) return; // fixed-size keys, no nodes (not used by the cache)
    const keys = lower >> 1;
    for (let i = 0; i < keys; i++) {
      const node = p.readUInt16LE(PAGE_HEADER + 2 * i) + PAGE_HEADER;
      if (node < PAGE_HEADER + lower || node + NODE_HEADER > size) throw new Damage(`${at} node ${i} is outside the page`);
      const lo = p.readUInt16LE(node);
      const hi = p.readUInt16LE(node + 2);
      const nodeFlags = p.readUInt16LE(node + 4);
      const ksize = p.readUInt16LE(node + 6);
      const data = node + NODE_HEADER + ksize;
      if (data > size) throw new Damage(`${at} node ${i} key runs past the page`);
      if (flags & P_BRANCH) {
        this.child(BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n), what, depth + 1, db);
        continue;
      }
      const key = { start: node + NODE_HEADER, end: data };
      if (this.sink) {
        try {
          this.leafNode(p, at, i, nodeFlags, lo + hi * 65536, key, depth, db);
        } catch (e) {
          if (!(e instanceof Damage)) throw e;
          this.skipped.push(e.message);
        }
      } else {
        this.leafNode(p, at, i, nodeFlags, lo + hi * 65536, key, depth, db);
      }
    }
  }

  private leafNode(
    p: Buffer,
    at: string,
    i: number,
    flags: number,
    dataBytes: number,
    key: { start: number; end: number },
    depth: number,
    db: string | undefined,
  ): void {
    const data = key.end;
    const size = this.meta.pageSize;
    if (flags & F_BIGDATA) {
      if (data + 8 > size) throw new Damage(`${at} node ${i} overflow pointer runs past the page`);
      const ov = p.readBigUInt64LE(data);
      if (ov > BigInt(this.meta.lastPage)) throw new Damage(`${at} node ${i} points to overflow page ${ov}, beyond the last page`);
      const head = this.read(Number(ov), Buffer.alloc(PAGE_HEADER), PAGE_HEADER);
      const count = head.readUInt32LE(20);
      if (!(head.readUInt16LE(18) & P_OVERFLOW) || Number(head.readBigUInt64LE(0)) !== Number(ov)) {
        throw new Damage(`${at} node ${i} points to page ${ov}, which is not its overflow page`);
      }
      if (Number(ov) + count - 1 > this.meta.lastPage || dataBytes > count * size - PAGE_HEADER) {
        throw new Damage(`${at} node ${i}: overflow run ${ov}+${count} does not hold its ${dataBytes} bytes`);
      }
      if (this.sink && db !== undefined) {
        const value = Buffer.alloc(dataBytes);
        if (readSync(this.fd, value, 0, dataBytes, Number(ov) * size + PAGE_HEADER) < dataBytes)
          throw new Damage(`${at} node ${i}: overflow cut off`);
        this.sink(db, Buffer.from(p.subarray(key.start, key.end)), value);
      }
      return;
    }
    if (data + dataBytes > size) throw new Damage(`${at} node ${i} data runs past the page`);
    if (flags & F_SUBDATA && !(flags & F_DUPDATA)) {
      if (dataBytes < DB_BYTES) throw new Damage(`${at} node ${i} is a database record of ${dataBytes} bytes`);
      // lmdb-js stores database names with their terminating NUL
      const name = p.toString('utf8', key.start, key.end).replace(/\0+$/, '');
      this.child(p.readBigUInt64LE(data + DB_ROOT), `${at} database ${name}`, depth + 1, name);
      return;
    }
    if (this.sink && db !== undefined)
      this.sink(db, Buffer.from(p.subarray(key.start, key.end)), Buffer.from(p.subarray(data, data + dataBytes)));
  }
}

/** The current meta page's bytes (page 0, page 1 or the half-page one, whichever has its txnid). */
function currentMetaPage(fd: number, meta: LmdbMeta): Buffer | undefined {
  const head = Buffer.alloc(PAGE_HEADER + 136);
  const at = [0, meta.pageSize, meta.pageSize / 2].find(
    (o) => readSync(fd, head, 0, head.length, o) === head.length && Number(head.readBigUInt64LE(PAGE_HEADER + 128)) === meta.txnid,
  );
  return at === undefined ? undefined : head;
}

export interface SalvageWalk {
  /** the damaged subtrees and entries stepped over */
  skipped: string[];
  /** why nothing could be walked (no valid meta) */
  problem?: string;
}

/**
 * Hands every entry of the named databases that can be reached in the file at `path` (which may be
 * truncated or damaged) to `sink`, stepping over damaged subtrees. Never maps the file.
 */
export function salvageLmdbEntries(path: string, sink: EntrySink): SalvageWalk {
  const file = checkLmdbFile(path);
  if (!file.meta) return { skipped: [], problem: file.problem ?? 'no valid meta page' };
  // a truncated file: pages past its end are reported as damage by read()
  const meta = { ...file.meta, lastPage: Math.min(file.meta.lastPage, Math.floor(file.fileBytes / file.meta.pageSize) - 1) };
  const fd = openSync(path, 'r');
  try {
    const head = currentMetaPage(fd, file.meta);
    if (!head) return { skipped: [], problem: 'no valid meta page' };
    const walker = new Walker(fd, meta, sink);
    try {
      walker.tree(head.readBigUInt64LE(META_MAIN_ROOT), 'main tree');
    } catch (e) {
      if (!(e instanceof Damage)) throw e;
      walker.skipped.push(e.message);
    }
    return { skipped: walker.skipped };
  } finally {
    closeSync(fd);
  }
}

function walkOnce(path: string): { check: TreeCheck; txnid: number | undefined } {
  const file = checkLmdbFile(path);
  if (!file.ok || !file.meta) return { check: { ok: file.ok, pages: 0, problem: file.problem }, txnid: file.meta?.txnid };
  const meta = file.meta;
  const fd = openSync(path, 'r');
  try {
    const head = currentMetaPage(fd, meta);
    if (!head) return { check: { ok: true, pages: 0 }, txnid: meta.txnid };
    const walker = new Walker(fd, meta);
    try {
      walker.tree(head.readBigUInt64LE(META_FREE_ROOT), 'free-page tree');
      walker.tree(head.readBigUInt64LE(META_MAIN_ROOT), 'main tree');
    } catch (e) {
      if (!(e instanceof Damage)) throw e;
      return { check: { ok: false, pages: walker.pages, problem: e.message }, txnid: meta.txnid };
    }
    return { check: { ok: true, pages: walker.pages }, txnid: meta.txnid };
  } finally {
    closeSync(fd);
  }
}

/** Checks the trees of the LMDB file at `path`; a damaged page is reported only from an unchanged snapshot. */
export function checkLmdbTrees(path: string, attempts = 5): TreeCheck {
  let last: TreeCheck = { ok: true, pages: 0 };
  for (let i = 0; i < attempts; i++) {
    const { check, txnid } = walkOnce(path);
    if (check.ok) return check;
    // damage seen: only believed when no commit happened during the walk
    if (checkLmdbFile(path).meta?.txnid === txnid) return check;
    last = check;
  }
  // a writer kept committing: the file cannot be checked now, which is not damage
  return { ok: true, pages: last.pages };
}

/**
 * The on-disk layout of an LMDB data file (data format 2, as lmdb-js builds liblmdb), as far as
 * the pre-open checks read it: the page header, page and node flags, and the offsets in MDB_meta
 * and MDB_db (mdb.c).
 */

/** bytes of a page header (page number, padding, flags, lower/upper or overflow count) */
export const PAGE_HEADER = 24;
/** bytes of a node header in a branch or leaf page */
export const NODE_HEADER = 8;

/** page flags */
export const P_BRANCH = 0x01;
export const P_LEAF = 0x02;
export const P_OVERFLOW = 0x04;
export const P_META = 0x08;
export const P_LEAF2 = 0x20;

/** node flags */
export const F_BIGDATA = 0x01;
export const F_SUBDATA = 0x02;
export const F_DUPDATA = 0x04;

/** MDB_meta's magic and the data format version it must carry */
export const MAGIC = 0xbeefc0de;
export const DATA_VERSION = 2;
/** the page sizes LMDB accepts */
export const MIN_PAGE = 512;
export const MAX_PAGE = 65536;

/** an MDB_db record's size and the offset of its root page number */
export const DB_BYTES = 48;
export const DB_ROOT = 40;
/** offsets in a meta page of the free and main databases' roots */
export const META_FREE_ROOT = PAGE_HEADER + 24 + DB_ROOT;
export const META_MAIN_ROOT = PAGE_HEADER + 24 + DB_BYTES + DB_ROOT;

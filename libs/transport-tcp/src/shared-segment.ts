/**
 * The same-host path of the data plane: a chunk's values travel through memory both processes
 * map, and the TCP connection carries only its head. Loopback TCP costs a kernel copy on each
 * side plus the stack (about 1.5 ms of CPU per MiB and rank, measured); a copy into shared pages
 * costs a twentieth of that. NCCL's SHM transport and MPI's shared-memory layers do the same for
 * ranks of one host.
 *
 *   sender    creates an anonymous memfd segment (native/shared-memory.c) when a receiver's
 *             connection is admitted and offers it in the ACCEPT: boot id, pid, fd, bytes, token.
 *   receiver  on the same host (same boot id) maps /proc/<pid>/fd/<fd>, checks the token the
 *             sender wrote at its start, and answers MAPPED(1). Anything else (another host,
 *             another pid namespace, no permission, no native module) answers MAPPED(0) with
 *             the reason, and the connection carries values over TCP. The sender holds its
 *             chunks until the answer, so which path a connection takes does not depend on timing.
 *   chunks    after MAPPED, a chunk that fits goes into a free region of the segment (the
 *             SegmentRing below) and a SHM_CHUNK frame tells the receiver where; the receiver's
 *             chunk is a view of those pages, and once consumed it sends CREDIT with the region's
 *             position, which the sender may then reuse. A chunk that finds no room waits, and
 *             everything written after it waits behind it, so order is kept.
 *
 * Nothing has a name in the file system, so a process killed with -9 leaks nothing. The native
 * module is built at install time (tools/build-native.mjs); without it the data plane is TCP only.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LITTLE_ENDIAN } from './protocol';

interface Native {
  create(bytes: number): [number, ArrayBuffer];
  open(path: string, bytes: number): ArrayBuffer;
  close(fd: number): void;
}

/** bytes before the first region: the token, padded to a cache line */
const HEADER_BYTES = 64;
const TOKEN_BYTES = 16;
const ALIGN_BYTES = 64;

let native: Native | undefined;
let loadError: string | undefined;
try {
  const require = createRequire(import.meta.url);
  // the package's entry is src/index.ts, from source and from the bundle alike
  const root = dirname(dirname(require.resolve('@permafrost/transport-tcp')));
  native = require(join(root, 'native', 'build', 'shared-memory.node')) as Native;
} catch (e) {
  loadError = (e as Error).message;
}

/** Why shared memory is unavailable in this process, or undefined when it is available. */
export function sharedMemoryUnavailable(): string | undefined {
  return native ? undefined : `the native module is not built (npm ci builds it with a C compiler): ${loadError}`;
}

let bootIdText: string | undefined;
/** this host's boot id: two processes share memory only if theirs are equal */
function bootId(): string {
  bootIdText ??= (() => {
    try {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      return 'unknown';
    }
  })();
  return bootIdText;
}

/**
 * Where chunks go in a segment of `capBytes`: regions are taken in order around the ring and
 * returned in any order (a CREDIT names its region); space comes back once every region before
 * it has been returned.
 */
export class SegmentRing {
  private readonly inFlight: { position: number; end: number; returned: boolean }[] = [];
  private tail = 0;

  constructor(readonly capBytes: number) {}

  /** regions taken and not yet reusable */
  get used(): number {
    return this.inFlight.length;
  }

  /** The position of a free region of `bytes`, or undefined while there is no room. */
  take(bytes: number): number | undefined {
    const size = Math.ceil(bytes / ALIGN_BYTES) * ALIGN_BYTES;
    if (size > this.capBytes || size === 0) return undefined;
    let position: number;
    const oldest = this.inFlight[0];
    if (!oldest) position = 0;
    else if (this.tail > oldest.position) {
      if (this.tail + size <= this.capBytes) position = this.tail;
      else if (size <= oldest.position) position = 0;
      else return undefined;
    } else if (this.tail + size <= oldest.position) position = this.tail;
    else return undefined;
    this.inFlight.push({ position, end: position + size, returned: false });
    this.tail = position + size;
    return position;
  }

  /** Returns the region at `position`; false if no region starts there. */
  give(position: number): boolean {
    const r = this.inFlight.find((x) => x.position === position && !x.returned);
    if (!r) return false;
    r.returned = true;
    while (this.inFlight[0]?.returned) this.inFlight.shift();
    if (this.inFlight.length === 0) this.tail = 0;
    return true;
  }
}

/** The sender's segment of one connection. */
export class OutgoingSegment {
  readonly ring: SegmentRing;
  private readonly bytes: Uint8Array;
  private fd: number | undefined;
  private readonly token: Buffer;

  /** undefined when shared memory is unavailable here */
  static create(capBytes: number): OutgoingSegment | undefined {
    // the values go unconverted through the segment, so both ends must be little-endian
    if (!native || capBytes <= 0 || !LITTLE_ENDIAN) return undefined;
    try {
      const [fd, buffer] = native.create(HEADER_BYTES + capBytes);
      return new OutgoingSegment(native, fd, buffer, capBytes);
    } catch {
      return undefined;
    }
  }

  private constructor(
    private readonly lib: Native,
    fd: number,
    buffer: ArrayBuffer,
    capBytes: number,
  ) {
    this.fd = fd;
    this.bytes = new Uint8Array(buffer);
    this.ring = new SegmentRing(capBytes);
    this.token = randomBytes(TOKEN_BYTES);
    this.bytes.set(this.token, 0);
  }

  /** the ACCEPT's text that lets a receiver on this host map the segment */
  offer(): string {
    return `${bootId()} ${process.pid} ${this.fd} ${this.bytes.length} ${this.token.toString('hex')}`;
  }

  /** Copies `data` into the region at `position`. */
  put(position: number, data: Float32Array): void {
    this.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), HEADER_BYTES + position);
  }

  /** Closes the descriptor; the pages go once the receiver unmaps them too. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      this.lib.close(fd);
    } catch {
      // already closed: nothing to free
    }
  }
}

/** The receiver's view of a sender's segment. */
export class IncomingSegment {
  private constructor(private readonly buffer: ArrayBuffer) {}

  /** Maps the segment an ACCEPT offers; else why this process cannot share it. */
  static map(offer: string): IncomingSegment | string {
    const m = /^(\S+) (\d+) (\d+) (\d+) ([0-9a-f]+)$/.exec(offer);
    if (!native) return 'no shared-memory module here';
    if (!m) return 'a malformed offer';
    if (m[1] !== bootId()) return 'another host';
    const bytes = Number(m[4]);
    const token = Buffer.from(m[5] as string, 'hex');
    if (bytes <= HEADER_BYTES || token.length !== TOKEN_BYTES) return 'a malformed offer';
    let buffer: ArrayBuffer;
    try {
      buffer = native.open(`/proc/${m[2]}/fd/${m[3]}`, bytes);
    } catch (e) {
      return (e as Error).message;
    }
    return token.equals(new Uint8Array(buffer, 0, TOKEN_BYTES)) ? new IncomingSegment(buffer) : 'another segment (token mismatch)';
  }

  /** The `count` values at `position`, a view of the shared pages (valid until its CREDIT). */
  view(position: number, count: number): Float32Array {
    const at = HEADER_BYTES + position;
    if (position % 4 !== 0 || at + count * 4 > this.buffer.byteLength) {
      throw new RangeError(`a region of ${count} values at ${position} is outside the shared segment`);
    }
    return new Float32Array(this.buffer, at, count);
  }
}

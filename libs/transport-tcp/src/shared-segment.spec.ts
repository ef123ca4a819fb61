import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { IncomingSegment, OutgoingSegment, SegmentRing } from './shared-segment';
import { nativeOrSkip } from './test-ring';

describe('segment ring', () => {
  it('takes regions in order, aligned to 64 bytes, and refuses what does not fit', () => {
    const r = new SegmentRing(256);
    assert.equal(r.take(10), 0);
    assert.equal(r.take(64), 64);
    assert.equal(r.take(100), 128);
    assert.equal(r.take(1), undefined, 'full');
    assert.equal(r.take(257), undefined, 'larger than the segment');
    assert.equal(r.take(0), undefined);
  });

  it('reuses space only once every region before it is back, and wraps around', () => {
    const r = new SegmentRing(256);
    const [a, b, c] = [r.take(64), r.take(64), r.take(64)] as number[];
    assert.ok(r.give(b as number));
    assert.equal(r.take(128), undefined, 'the region of b is not free while a is out');
    assert.equal(r.take(64), 192, 'the end is still free');
    assert.ok(r.give(a as number));
    // a and b are back: 0..128 is free, and the next region wraps to the start
    assert.equal(r.take(128), 0);
    assert.equal(r.take(64), undefined);
    assert.ok(r.give(c as number));
    assert.equal(r.take(64), 128, 'after the wrapped region, up to the oldest one out (192)');
    assert.equal(r.used, 3);
  });

  it('refuses a position that is not out, and a position given twice', () => {
    const r = new SegmentRing(256);
    const a = r.take(64) as number;
    assert.equal(r.give(64), false);
    assert.ok(r.give(a));
    assert.equal(r.give(a), false);
    assert.equal(r.used, 0);
    assert.equal(r.take(256), 0, 'an empty ring starts over at 0');
  });
});

describe('shared segments', () => {
  it('a receiver maps the very pages the sender writes, and sees its writes', (t) => {
    if (!nativeOrSkip(t)) return;
    const out = OutgoingSegment.create(4096) as OutgoingSegment;
    try {
      const seen = IncomingSegment.map(out.offer());
      assert.ok(seen instanceof IncomingSegment, String(seen));
      const at = out.ring.take(16) as number;
      out.put(at, Float32Array.of(1.5, -2, 3, 4));
      assert.deepEqual(Array.from(seen.view(at, 4)), [1.5, -2, 3, 4]);
      out.put(at, Float32Array.of(7));
      assert.equal(seen.view(at, 1)[0], 7);
      assert.throws(() => seen.view(4096, 1), /outside the shared segment/);
      assert.throws(() => seen.view(2, 1), /outside the shared segment/);
    } finally {
      out.close();
    }
  });

  it('declines, with the reason, an offer from another host, of another segment, or malformed', (t) => {
    if (!nativeOrSkip(t)) return;
    const out = OutgoingSegment.create(4096) as OutgoingSegment;
    try {
      const [boot, pid, fd, bytes, token] = out.offer().split(' ') as [string, string, string, string, string];
      const other = token.replace(/^./, token[0] === '0' ? '1' : '0');
      assert.equal(IncomingSegment.map(['another-boot', pid, fd, bytes, token].join(' ')), 'another host');
      assert.equal(IncomingSegment.map([boot, pid, fd, bytes, other].join(' ')), 'another segment (token mismatch)');
      assert.match(String(IncomingSegment.map([boot, pid, '999999', bytes, token].join(' '))), /^open: /);
      assert.match(
        String(IncomingSegment.map([boot, pid, fd, String(Number(bytes) * 2), token].join(' '))),
        /not a segment of the announced size/,
      );
      assert.equal(IncomingSegment.map('garbage'), 'a malformed offer');
    } finally {
      out.close();
    }
  });

  it('leaves no descriptor behind once closed (and memfds have no name to leak)', (t) => {
    if (!nativeOrSkip(t)) return;
    const before = countMemfds();
    const out = OutgoingSegment.create(1 << 16) as OutgoingSegment;
    assert.equal(countMemfds(), before + 1);
    out.close();
    out.close();
    assert.equal(countMemfds(), before);
  });
});

/** descriptors of this process that are permafrost memfds */
function countMemfds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:permafrost-data')) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
}

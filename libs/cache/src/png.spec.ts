import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';
import { channelGrid } from './channel-grid';
import { drawDigits, textWidth } from './digit-font';
import { crc32, encodePng, rgbImage } from './png';

/** Splits a PNG into chunks, checking each CRC, and returns IHDR fields and the unfiltered pixels. */
function decode(png: Buffer): { width: number; height: number; rgb: Uint8Array; types: string[] } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const types: string[] = [];
  const idat: Buffer[] = [];
  let width = 0;
  let height = 0;
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + len);
    assert.equal(png.readUInt32BE(at + 8 + len), crc32(png.subarray(at + 4, at + 8 + len)), `${type} CRC`);
    types.push(type);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.deepEqual([...data.subarray(8)], [8, 2, 0, 0, 0]);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width * 3 + 1)], 0, 'filter type 0');
    rgb.set(raw.subarray(y * (width * 3 + 1) + 1, (y + 1) * (width * 3 + 1)), y * width * 3);
  }
  return { width, height, rgb, types };
}

describe('PNG encoder', () => {
  it('computes the standard CRC-32', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.from('IEND')), 0xae426082);
  });

  it('writes chunks whose pixels decode back exactly', () => {
    const img = rgbImage(3, 2, [1, 2, 3]);
    img.data.set([255, 0, 0], 0);
    img.data.set([0, 0, 255], 5 * 3);
    const d = decode(encodePng(img));
    assert.deepEqual(d.types, ['IHDR', 'IDAT', 'IEND']);
    assert.equal(d.width, 3);
    assert.equal(d.height, 2);
    assert.deepEqual([...d.rgb], [...img.data]);
    assert.throws(() => encodePng({ width: 2, height: 2, data: new Uint8Array(5) }), RangeError);
  });
});

describe('digit font', () => {
  it('draws digits as 3x5 glyphs with a blank column between them', () => {
    const img = rgbImage(7, 5);
    drawDigits(img, 0, 0, '17', 1, [9, 9, 9]);
    const lit = (x: number, y: number) => img.data[(y * 7 + x) * 3] === 9;
    // '1': middle column lit on every row; '7': top row lit across
    for (let y = 0; y < 5; y++) assert.ok(lit(1, y));
    assert.ok(lit(4, 0) && lit(5, 0) && lit(6, 0));
    assert.ok(!lit(3, 0), 'gap column');
    assert.equal(textWidth('17', 2), 14);
  });
});

describe('channel grid', () => {
  it('draws one labelled tile per channel, each normalised to its own range', () => {
    // [2, 2, 3]: channel 0 ramps 0..3, channel 1 ramps 0..30, channel 2 is constant
    const values = new Float32Array(12);
    for (let p = 0; p < 4; p++) {
      values[p * 3] = p;
      values[p * 3 + 1] = 10 * p;
      values[p * 3 + 2] = 5;
    }
    const img = channelGrid(values, [2, 2, 3], { minTilePx: 4 });
    const d = decode(encodePng(img));
    const pixel = (x: number, y: number) => [...d.rgb.subarray((y * d.width + x) * 3, (y * d.width + x) * 3 + 3)];
    // 2 columns x 2 rows of cells; a tile is 2x2 scaled by 2 under a 14-pixel label band, 4-pixel padding
    const tile = (c: number, x: number, y: number) => {
      const cellW = Math.max(4, textWidth('2', 2)) + 4;
      return pixel(4 + (c % 2) * cellW + x * 2, 4 + Math.floor(c / 2) * (4 + 14 + 4) + 14 + y * 2);
    };
    assert.deepEqual(tile(0, 0, 0), [0, 0, 0], 'channel minimum is black');
    assert.deepEqual(tile(0, 1, 1), [255, 255, 255], 'channel maximum is white');
    assert.deepEqual(tile(1, 1, 1), [255, 255, 255], 'each channel has its own scale');
    assert.deepEqual(tile(1, 1, 0), [85, 85, 85]);
    assert.deepEqual(tile(2, 0, 0), [20, 30, 90], 'a constant channel is marked');
    assert.deepEqual(pixel(4, 4), [255, 200, 40], 'the label of channel 0 starts at the cell corner');
  });

  it('wraps a vector into one near-square tile', () => {
    const img = channelGrid(
      Float32Array.from({ length: 10 }, (_, i) => i),
      [10],
      { minTilePx: 4 },
    );
    // 4 x 3 values (two cells unused), scale 1, one label band
    assert.equal(img.width, 4 + Math.max(4, textWidth('0', 2)) + 4);
    assert.equal(img.height, 4 + 3 + 14 + 4);
  });
});

/**
 * Renders one activation as a grid of channel images, so a person can look at what the frozen
 * prefix sees: an [H, W, C] activation (NHWC without the batch) becomes C grayscale tiles of
 * H x W, each normalised to its own min..max (black..white), labelled with its channel index,
 * scaled up by a whole factor (nearest neighbour) so small maps stay visible. A vector (or an
 * activation with 1 x 1 spatial size, such as a pooled output) is one tile, wrapped into a
 * near-square image. Non-finite values are drawn red; a constant channel is drawn dark blue so it
 * does not look like a channel of zeros that varies.
 */
import { drawDigits, GLYPH_HEIGHT, textWidth } from './digit-font';
import { type RgbImage, rgbImage } from './png';

export interface GridOptions {
  /** tiles are scaled up to at least this many pixels on their longer side (default 48) */
  minTilePx?: number;
  /** at most this many tiles per row (default: a near-square grid) */
  columns?: number;
}

const BACKGROUND = [24, 24, 24] as const;
const LABEL = [255, 200, 40] as const;
const NON_FINITE = [255, 0, 0] as const;
const CONSTANT = [20, 30, 90] as const;
const PAD = 4;
const FONT_SCALE = 2;
const LABEL_BAND = GLYPH_HEIGHT * FONT_SCALE + 4;

interface Layout {
  height: number;
  width: number;
  channels: number;
  /** index of (y, x, c) in the values */
  at: (y: number, x: number, c: number) => number;
}

function layoutOf(shape: readonly number[], elements: number): Layout {
  const channels = shape.length >= 3 ? (shape[shape.length - 1] as number) : 1;
  const spatial = elements / channels;
  if (shape.length >= 3 && spatial > 1) {
    const width = shape[shape.length - 2] as number;
    const height = spatial / width;
    return { height, width, channels, at: (y, x, c) => (y * width + x) * channels + c };
  }
  if (shape.length === 2) {
    const [height, width] = shape as [number, number];
    return { height, width, channels: 1, at: (y, x) => y * width + x };
  }
  // a vector: one tile, row-major, as square as it gets
  const width = Math.ceil(Math.sqrt(elements));
  return { height: Math.ceil(elements / width), width, channels: 1, at: (y, x) => y * width + x };
}

export function channelGrid(values: Float32Array, shape: readonly number[], opts: GridOptions = {}): RgbImage {
  const l = layoutOf(shape, values.length);
  const scale = Math.max(1, Math.ceil((opts.minTilePx ?? 48) / Math.max(l.height, l.width)));
  const tileW = l.width * scale;
  const tileH = l.height * scale;
  const columns = Math.max(1, Math.min(l.channels, opts.columns ?? Math.ceil(Math.sqrt(l.channels))));
  const rows = Math.ceil(l.channels / columns);
  const cellW = Math.max(tileW, textWidth(String(l.channels - 1), FONT_SCALE)) + PAD;
  const cellH = tileH + LABEL_BAND + PAD;
  const img = rgbImage(columns * cellW + PAD, rows * cellH + PAD, BACKGROUND);
  for (let c = 0; c < l.channels; c++) {
    const left = PAD + (c % columns) * cellW;
    const top = PAD + Math.floor(c / columns) * cellH;
    drawDigits(img, left, top, String(c), FONT_SCALE, LABEL);
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let y = 0; y < l.height; y++) {
      for (let x = 0; x < l.width; x++) {
        const i = l.at(y, x, c);
        if (i >= values.length) continue;
        const v = values[i] as number;
        if (!Number.isFinite(v)) continue;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    const span = max - min;
    for (let y = 0; y < l.height; y++) {
      for (let x = 0; x < l.width; x++) {
        const i = l.at(y, x, c);
        if (i >= values.length) continue; // the padding of a wrapped vector
        const v = values[i] as number;
        let rgb: readonly [number, number, number];
        if (!Number.isFinite(v)) rgb = NON_FINITE;
        else if (!(span > 0)) rgb = CONSTANT;
        else {
          const g = Math.round((255 * (v - min)) / span);
          rgb = [g, g, g];
        }
        for (let dy = 0; dy < scale; dy++) {
          const row = (top + LABEL_BAND + y * scale + dy) * img.width;
          for (let dx = 0; dx < scale; dx++) img.data.set(rgb, (row + left + x * scale + dx) * 3);
        }
      }
    }
  }
  return img;
}

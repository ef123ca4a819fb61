/**
 * A 3x5 pixel bitmap font for the digits 0-9, enough to label the channel tiles of
 * `cache show --png` without a font library. Each glyph is five rows of three bits, top row first,
 * most significant bit on the left.
 */
import type { RgbImage } from './png';

const GLYPHS: Record<string, readonly number[]> = {
  '0': [0b111, 0b101, 0b101, 0b101, 0b111],
  '1': [0b010, 0b110, 0b010, 0b010, 0b111],
  '2': [0b111, 0b001, 0b111, 0b100, 0b111],
  '3': [0b111, 0b001, 0b111, 0b001, 0b111],
  '4': [0b101, 0b101, 0b111, 0b001, 0b001],
  '5': [0b111, 0b100, 0b111, 0b001, 0b111],
  '6': [0b111, 0b100, 0b111, 0b101, 0b111],
  '7': [0b111, 0b001, 0b001, 0b001, 0b001],
  '8': [0b111, 0b101, 0b111, 0b101, 0b111],
  '9': [0b111, 0b101, 0b111, 0b001, 0b111],
};

export const GLYPH_WIDTH = 3;
export const GLYPH_HEIGHT = 5;

/** Width in pixels of `text` at `scale` (one blank column between glyphs). */
export function textWidth(text: string, scale: number): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

/** Draws the digits of `text` with its top-left corner at (x, y); other characters are skipped as blanks. */
export function drawDigits(img: RgbImage, x: number, y: number, text: string, scale: number, rgb: readonly [number, number, number]): void {
  [...text].forEach((ch, i) => {
    const glyph = GLYPHS[ch];
    if (!glyph) return;
    const left = x + i * (GLYPH_WIDTH + 1) * scale;
    glyph.forEach((bits, row) => {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (!((bits >> (GLYPH_WIDTH - 1 - col)) & 1)) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = left + col * scale + dx;
            const py = y + row * scale + dy;
            if (px >= 0 && py >= 0 && px < img.width && py < img.height) img.data.set(rgb, (py * img.width + px) * 3);
          }
        }
      }
    });
  });
}

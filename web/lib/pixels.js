/*
 * pixels.js — floats in [-1, 1] to bytes and RGBA grids, and start images for image-to-image.
 */

import { fail } from '../errors.js';
import { isInt } from './common.js';

/* ddpm_to_u8 in float32 arithmetic: floorf((clamp(x, -1, 1) + 1) * 127.5f + 0.5f). Each double operation rounded
 * with Math.fround equals the float32 operation (double has more than 2 * 24 + 2 bits), so the bytes are the C's. */
export function toU8(x) {
  if (!(x > -1)) x = -1;
  if (x > 1) x = 1;
  return Math.floor(Math.fround(Math.fround(Math.fround(x + 1) * 127.5) + 0.5));
}

/** [n, C, S, S] floats in [-1, 1] -> one RGBA grid: `cols` images per row (default ceil(sqrt(n))), each scaled
 * `scale` times (nearest neighbour), `gap` pixels between them and `border` around, filled with `background`
 * ([r, g, b, a], default transparent). 1 channel is drawn grey, 3 as RGB; other channel counts show channel 0 in
 * grey. layout: 'png' lays the grid out as png() and the CLI's --out do (src/image/grid_png.c): 2 px of opaque
 * black around and between the tiles, all of it upscaled by `scale` — the same pixels as the decoded PNG. */
export function toRGBA(images, n, channels, size, opts = {}) {
  if (opts.layout !== undefined && opts.layout !== 'png') fail('INVALID_ARGUMENT', `rgba: layout must be 'png' or absent, got ${String(opts.layout)}`);
  const png = opts.layout === 'png';
  const cols = opts.cols ?? Math.max(1, Math.ceil(Math.sqrt(n)));
  const scale = opts.scale ?? 1;
  if (!isInt(cols) || cols < 1 || !isInt(scale) || scale < 1)
    fail('INVALID_ARGUMENT', 'rgba: cols and scale must be integers >= 1, gap and border integers >= 0');
  const gap = png ? PNG_PAD * scale : opts.gap ?? 1, border = png ? PNG_PAD * scale : opts.border ?? 0;
  const bg = png ? [0, 0, 0, 255] : opts.background ?? [0, 0, 0, 0];
  if (!isInt(gap) || gap < 0 || !isInt(border) || border < 0)
    fail('INVALID_ARGUMENT', 'rgba: cols and scale must be integers >= 1, gap and border integers >= 0');
  if (!Array.isArray(bg) || bg.length !== 4 || !bg.every((v) => isInt(v) && v >= 0 && v <= 255))
    fail('INVALID_ARGUMENT', 'rgba: background must be [r, g, b, a], integers 0..255');
  if (images.length < n * channels * size * size) fail('INVALID_ARGUMENT', 'rgba: images is too short');
  const rows = Math.max(1, Math.ceil(n / cols)), cell = size * scale;
  const width = cols * cell + (cols - 1) * gap + 2 * border, height = rows * cell + (rows - 1) * gap + 2 * border;
  const data = new Uint8ClampedArray(width * height * 4);
  if (bg[0] || bg[1] || bg[2] || bg[3]) for (let o = 0; o < data.length; o += 4) data.set(bg, o);
  const plane = size * size, rgb = channels === 3;
  for (let k = 0; k < n; k++) {
    const ox = border + (k % cols) * (cell + gap), oy = border + Math.floor(k / cols) * (cell + gap);
    const base = k * channels * plane;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = base + y * size + x;
        const r = toU8(images[p]), g = rgb ? toU8(images[p + plane]) : r, b = rgb ? toU8(images[p + 2 * plane]) : r;
        for (let dy = 0; dy < scale; dy++) {
          let o = ((oy + y * scale + dy) * width + ox + x * scale) * 4;
          for (let dx = 0; dx < scale; dx++, o += 4) {
            data[o] = r; data[o + 1] = g; data[o + 2] = b; data[o + 3] = 255;
          }
        }
      }
    }
  }
  return { width, height, data };
}

/* DDPM_GRID_PAD of src/image/grid_png.h: the PNG grid's padding in pixels before upscaling. */
const PNG_PAD = 2;

/* A start image for image-to-image -> [batch, C, S, S] floats. */
export function initImage(src, batch, C, S) {
  const D = C * S * S, plane = S * S;
  let one;
  if (src instanceof Float32Array) {
    if (src.length === batch * D) return src;
    if (src.length !== D) fail('INVALID_ARGUMENT', `init must hold ${D} or ${batch * D} floats ([1 or batch, ${C}, ${S}, ${S}]), got ${src.length}`);
    one = src;
  } else if (src instanceof Uint8Array || src instanceof Uint8ClampedArray) {
    const grey = src.length === plane, rgba = src.length === 4 * plane;
    if (!grey && !rgba) fail('INVALID_ARGUMENT', `init bytes must be ${S}x${S} grey (${plane}) or RGBA (${4 * plane}), got ${src.length}`);
    one = new Float32Array(D);
    const f = (b) => b / 127.5 - 1;
    for (let i = 0; i < plane; i++) {
      const r = grey ? src[i] : src[4 * i], g = grey ? r : src[4 * i + 1], b = grey ? r : src[4 * i + 2];
      if (C === 3) {
        one[i] = f(r); one[plane + i] = f(g); one[2 * plane + i] = f(b);
      } else {
        const l = grey ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b);
        for (let ch = 0; ch < C; ch++) one[ch * plane + i] = f(l);
      }
    }
  } else {
    fail('INVALID_ARGUMENT', 'init must be a Float32Array, Uint8Array or Uint8ClampedArray');
  }
  const out = new Float32Array(batch * D);
  for (let k = 0; k < batch; k++) out.set(one, k * D);
  return out;
}

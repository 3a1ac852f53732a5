/**
 * grid.js — the demo's output canvas: a batch of images [B, C, S, S] drawn as one grid by the package's own
 * toRGBA (lib/pixels.js: ddpm_to_u8's bytes, ceil(sqrt(B)) columns, GRID_GAP transparent pixels between the images,
 * on the stage's dark background), at native size and scaled up by CSS in whole multiples.
 */
import { toRGBA } from './lib/pixels.js';

export const GRID_GAP = 1;

export function createGrid(canvas, stage, demo) {
  const ctx = canvas.getContext('2d');
  const hashes = new Set(); // FNV-1a of each drawn frame (a test hook: how many distinct frames were drawn)

  /** Sizes the canvas for `batch` images of `size` px. */
  function layout(batch, size) {
    const cols = Math.ceil(Math.sqrt(batch)), rows = Math.ceil(batch / cols);
    const width = cols * size + (cols - 1) * GRID_GAP, height = rows * size + (rows - 1) * GRID_GAP;
    demo.grid = { cols, rows, width, height, size, batch };
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    ctx.clearRect(0, 0, width, height);
    fit();
  }

  /** Scales the canvas by the largest whole factor that fits the stage (crisp pixels at any size). */
  function fit() {
    const w = canvas.width, h = canvas.height;
    const avail = Math.max(64, stage.clientWidth - 16);
    const maxH = Math.max(160, Math.min(window.innerHeight * 0.7, 720));
    const k = Math.max(1, Math.floor(Math.min(avail / w, maxH / h)));
    canvas.style.width = `${w * k}px`;
    canvas.style.height = `${h * k}px`;
  }

  /** Draws floats [B, C, S, S] in [-1, 1]; returns the RGBA drawn. */
  function paint(images) {
    const { batch, size } = demo.grid;
    const img = toRGBA(images, batch, demo.config.inChannels, size, { gap: GRID_GAP });
    ctx.putImageData(new ImageData(img.data, img.width, img.height), 0, 0);
    return img.data;
  }

  /** Draws a frame of the run and counts it (framesDrawn, distinctFrames). */
  function frame(images) {
    const d = paint(images);
    let h = 0x811c9dc5;
    for (let i = 0; i < d.length; i += 4) { h ^= d[i]; h = Math.imul(h, 0x01000193); }
    hashes.add(h >>> 0);
    demo.framesDrawn++;
    demo.distinctFrames = hashes.size;
  }

  return { layout, fit, paint, frame, resetCount: () => hashes.clear() };
}

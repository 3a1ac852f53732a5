/**
 * filmstrip.js — the reverse process as the paper's Figure 6: x_t (top row) and the model's x̂_0 (bottom row) of the
 * run's first image at ten evenly spaced steps, filled in while the run goes, downloadable as one PNG.
 */
import { toRGBA } from './lib/pixels.js';
import { saveCanvasPng } from './downloads.js';

export const FRAMES = 10;

/** The steps the strip keeps for a run of n steps: round(k n / FRAMES) for k = 1..FRAMES, without repeats. */
export function stripSteps(n) {
  const s = [];
  for (let k = 1; k <= FRAMES; k++) {
    const v = Math.max(1, Math.round((k * n) / FRAMES));
    if (!s.includes(v)) s.push(v);
  }
  return s;
}

/** el: { canvas, download (button), caption }; demo.filmstrip: { steps, frames: [{step, t, x, x0}] } (test hook:
 * x and x0 are the first image's bytes). */
export function createFilmstrip(el, demo, pngScale) {
  let want = [], C = 1, S = 28;
  const strip = demo.filmstrip = { steps: [], frames: [] };

  function reset(numSteps, config) {
    C = config.inChannels; S = config.imageSize;
    want = numSteps ? stripSteps(numSteps) : [];
    strip.steps = want;
    strip.frames = [];
    el.canvas.width = FRAMES * S + (FRAMES - 1) * 2;
    el.canvas.height = 2 * S + 2;
    el.canvas.getContext('2d').clearRect(0, 0, el.canvas.width, el.canvas.height);
    const k = Math.max(1, Math.floor(640 / el.canvas.width));
    el.canvas.style.width = `${el.canvas.width * Math.min(k, 4)}px`;
    el.canvas.style.height = `${el.canvas.height * Math.min(k, 4)}px`;
    el.download.disabled = true;
    el.caption.textContent = 'xₜ (top) and x̂₀ (bottom) of the first image, at ten evenly spaced steps.';
  }

  /** Called with every StepInfo of the run. */
  function add(s) {
    if (!want.length) reset(s.numSteps, demo.config);
    if (!want.includes(s.step) || strip.frames.some((f) => f.step === s.step)) return;
    const D = C * S * S, x = s.x.subarray(0, D), x0 = s.x0.subarray(0, D);
    const col = want.indexOf(s.step), ox = col * (S + 2), g = el.canvas.getContext('2d');
    const top = toRGBA(x, 1, C, S, { gap: 0 }), bottom = toRGBA(x0, 1, C, S, { gap: 0 });
    g.putImageData(new ImageData(top.data, S, S), ox, 0);
    g.putImageData(new ImageData(bottom.data, S, S), ox, S + 2);
    strip.frames.push({ step: s.step, t: s.t, x: bytesOf(top.data), x0: bytesOf(bottom.data) });
    el.download.disabled = false;
    const ts = strip.frames.map((f) => f.t);
    el.caption.textContent = `xₜ (top) and x̂₀ (bottom) of the first image at steps ${strip.frames.map((f) => f.step).join(', ')} ` +
      `(t = ${ts.join(', ')}).`;
  }

  function download(name) {
    saveCanvasPng(el.canvas, Number(pngScale.value) || 1, name);
    demo.lastFilmstripDownload = name;
  }

  return { reset, add, download };
}

/* The red channel of RGBA = the grey byte (C = 1) or R (C = 3): what a test compares with Node's bytes. */
function bytesOf(rgba) {
  const out = new Uint8Array(rgba.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = rgba[4 * i];
  return out;
}

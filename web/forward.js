/**
 * forward.js — the paper's fixed forward process, on the page: a real image x_0 (a Fashion-MNIST test image of
 * web/assets/fmnist-test.u8, or the user's drawing) and a t slider; x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
 * computed by the engine (WorkerModel.qSample: the noise of the form's seed, the same an image-to-image run of that
 * seed adds), abar_t and the signal-to-noise ratio, and a plot of the loaded model's own schedule with t marked.
 */
import { initImage, toRGBA } from './lib/pixels.js';

const TEST_IMAGES = new URL('assets/fmnist-test.u8', import.meta.url);
const TEST_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
  'Ankle boot'];

/** Nearest-neighbour resize of a 28 x 28 grey image to S x S. */
function resize(src, S) {
  if (S === 28) return src;
  const out = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) out[y * S + x] = src[Math.floor(y * 28 / S) * 28 + Math.floor(x * 28 / S)];
  return out;
}

/** el: { source (select), t (range), tOut (output), images (canvas), plot (canvas), stats (p) }.
 * ctx: { demo, model() -> the WorkerModel or null, seed() -> the form's seed, drawing() -> S*S or S*S*4 bytes }. */
export function createForwardView(el, ctx) {
  let tests = null;        // Uint8Array 10 x 784
  let schedule = null;     // alphasCumprod of the current model
  let pending = false, again = false;
  const state = ctx.demo.forward = { t: null, source: null, seed: null, xt: null, abar: null, snr: null, draws: 0 };

  async function loadTests() {
    if (tests) return tests;
    const res = await fetch(TEST_IMAGES);
    if (!res.ok) throw new Error(`${TEST_IMAGES.pathname}: HTTP ${res.status}`);
    tests = new Uint8Array(await res.arrayBuffer());
    return tests;
  }

  /** A new model: its schedule, the slider's range and the source list. */
  async function setModel() {
    const m = ctx.model();
    if (!m) return;
    schedule = (await m.schedule()).alphasCumprod;
    const T = schedule.length;
    el.t.max = String(T - 1);
    if (Number(el.t.value) > T - 1 || state.t === null) el.t.value = String(Math.round((T - 1) / 2));
    if (!el.source.options.length) {
      el.source.replaceChildren(...TEST_NAMES.map((n, k) => new Option(`Test image: ${n}`, String(k))),
        new Option('My drawing', 'drawing'));
      el.source.value = '0';
    }
    await update();
  }

  function x0Bytes() {
    const S = ctx.demo.config.imageSize;
    if (el.source.value === 'drawing') return ctx.drawing();
    const k = Number(el.source.value);
    return resize(tests.subarray(k * 784, (k + 1) * 784), S);
  }

  /** Recomputes x_t (one request in flight at a time; the latest slider value wins). */
  async function update() {
    const m = ctx.model();
    if (!m || !schedule) return;
    if (pending) { again = true; return; }
    pending = true;
    try {
      do {
        again = false;
        await loadTests();
        const cfg = ctx.demo.config, C = cfg.inChannels, S = cfg.imageSize;
        const t = Number(el.t.value), seed = ctx.seed();
        const x0 = initImage(x0Bytes(), 1, C, S);
        const { xt } = await m.qSample(x0, t, { seed });
        if (m !== ctx.model()) return;
        draw(x0, xt, C, S, t);
        Object.assign(state, { t, seed, source: el.source.value, xt, draws: state.draws + 1 });
      } while (again);
    } catch (e) {
      el.stats.textContent = `The forward process could not be computed: ${e.message}`;
    } finally {
      pending = false;
    }
  }

  function draw(x0, xt, C, S, t) {
    const both = new Float32Array(2 * x0.length);
    both.set(x0, 0);
    both.set(xt, x0.length);
    const img = toRGBA(both, 2, C, S, { gap: 2 });
    el.images.width = img.width;
    el.images.height = img.height;
    el.images.getContext('2d').putImageData(new ImageData(img.data, img.width, img.height), 0, 0);
    const k = Math.max(1, Math.floor(128 / S)); // 4x at 28 px, 1x from 128 px
    el.images.style.width = `${img.width * k}px`;
    el.images.style.height = `${img.height * k}px`;
    const abar = schedule[t], snr = abar / (1 - abar);
    state.abar = abar;
    state.snr = snr;
    el.tOut.value = String(t);
    el.stats.textContent = `t = ${t}: ᾱₜ = ${fmt(abar)}, so xₜ keeps √ᾱₜ = ${fmt(Math.sqrt(abar))} of x₀ and ` +
      `adds √(1 − ᾱₜ) = ${fmt(Math.sqrt(1 - abar))} of noise; SNR = ᾱₜ / (1 − ᾱₜ) = ${fmt(snr)} ` +
      `(${(10 * Math.log10(snr)).toFixed(1)} dB). Noise from seed ${ctx.seed()}.`;
    el.images.setAttribute('aria-label', `x₀ and xₜ at t = ${t}`);
    plot(t);
  }

  /* abar_t (solid) and log-SNR (dashed, right scale) over t, the current t marked. */
  function plot(t) {
    const c = el.plot, g = c.getContext('2d'), W = c.width, H = c.height, T = schedule.length, pad = 4;
    const css = getComputedStyle(c), fg = css.color, accent = css.getPropertyValue('--accent') || '#36c';
    g.clearRect(0, 0, W, H);
    const X = (i) => pad + (i / Math.max(1, T - 1)) * (W - 2 * pad);
    const lsnr = Array.from(schedule, (a) => Math.log(a / (1 - a)));
    const lo = Math.max(-20, Math.min(...lsnr.filter(Number.isFinite))), hi = Math.min(20, Math.max(...lsnr.filter(Number.isFinite)));
    g.lineWidth = 1.5;
    g.strokeStyle = accent;
    g.beginPath();
    for (let i = 0; i < T; i++) { const y = H - pad - schedule[i] * (H - 2 * pad); if (i) g.lineTo(X(i), y); else g.moveTo(X(i), y); }
    g.stroke();
    g.setLineDash([4, 3]);
    g.strokeStyle = fg;
    g.beginPath();
    for (let i = 0; i < T; i++) {
      const v = Math.min(hi, Math.max(lo, lsnr[i])), y = H - pad - ((v - lo) / (hi - lo || 1)) * (H - 2 * pad);
      if (i) g.lineTo(X(i), y); else g.moveTo(X(i), y);
    }
    g.stroke();
    g.setLineDash([]);
    g.strokeStyle = '#e0a000';
    g.beginPath(); g.moveTo(X(t), 0); g.lineTo(X(t), H); g.stroke();
    c.setAttribute('aria-label', `The schedule: ᾱₜ falls from ${fmt(schedule[0])} at t = 0 to ${fmt(schedule[T - 1])} ` +
      `at t = ${T - 1}; log-SNR from ${lsnr[0].toFixed(1)} to ${lsnr[T - 1].toFixed(1)}. Marked: t = ${t}.`);
  }

  el.t.addEventListener('input', update);
  el.source.addEventListener('change', update);
  return { setModel, update };
}

function fmt(v) {
  if (v === 0) return '0';
  return v >= 0.01 && v < 1000 ? v.toPrecision(3) : v.toExponential(2);
}

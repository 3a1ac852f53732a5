/**
 * app.js — the demo page's main thread: controls, drawing, which model is current (the downloads are downloads.js;
 * "Your model" is your-model.js). The engine itself runs in Web Workers (worker.js, managed by pool.js), so this
 * thread only moves pixels to canvases and stays responsive.
 *
 * URL parameters (optional): ?model=URL loads that model file instead of the shipped list (relative to the page);
 * ?hub=URL is where "Your model" resolves hf: ids (web/your-model.js).
 *
 * Test hook: window.__ddpmDemo holds the page's state (see `demo` below) for browser-tests/; body[data-state]
 * mirrors demo.state ('loading' | 'ready' | 'running' | 'done' | 'stopped' | 'error').
 */
import { WorkerPool } from './pool.js';
import { UserError, fileName, compileEngine, openCache, fetchModel, modelHttpError, isMissing } from './downloads.js';
import { setupYourModel } from './your-model.js';
import { createPad } from './pad.js';
import { readSamplerOptions, renderSamplerOptions, samplerLabel } from './sampler-fields.js';

/* ---------------------------------------------------------------------------------------------------------------
 * What ships, the default first. Entries whose file the server does not have (404) are left out of the list, and
 * the first one it has is loaded (loadDefaultModel).
 * URLs are relative to this page, so the page works from any static host that keeps web/ and models/ side by side.
 * ------------------------------------------------------------------------------------------------------------- */
const MODELS = [
  { url: '../models/fmnist-cond.i8.safetensors', name: 'Fashion-MNIST, class-conditional (int8)' },
  { url: '../models/fmnist-uncond.i8.safetensors', name: 'Fashion-MNIST, unconditional (int8)' },
  { url: '../models/fmnist-cond.f16.safetensors', name: 'Fashion-MNIST, class-conditional (float16)' },
  { url: '../models/fmnist-uncond.f16.safetensors', name: 'Fashion-MNIST, unconditional (float16)' },
];
const FMNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const WASM_URL = new URL('dist/ddpm.wasm', import.meta.url);
const WORKER_URL = new URL('worker.js', import.meta.url);
// Sampler plugins written in JavaScript, registered into every worker's engine next to the built-in C samplers.
const PLUGINS = [new URL('plugins/ddim.js', import.meta.url).href];
const GRID_GAP = 1;            // px between the images of the grid (as StepInfo.rgba's default)
const GAP_GREY = 40;
const MAX_WORKERS = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));

// A 43-byte module whose only function returns a v128 constant: it validates only where SIMD128 is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);

const $ = (id) => document.getElementById(id);
const el = {
  error: $('error'), status: $('status'), model: $('model'), sampler: $('sampler'), samplerHelp: $('sampler-help'),
  samplerOptions: $('sampler-options'), steps: $('steps'), seed: $('seed'), randomSeed: $('random-seed'),
  batch: $('batch'), cls: $('class'), guidance: $('guidance'), workers: $('workers'), useDrawing: $('use-drawing'),
  pad: $('pad'), padPreview: $('pad-preview'), brush: $('brush'), padClear: $('pad-clear'), padInvert: $('pad-invert'),
  padFile: $('pad-file'), strength: $('strength'), strengthOut: $('strength-out'), generate: $('generate'),
  stop: $('stop'), download: $('download'), pngScale: $('png-scale'), stage: $('stage'), out: $('out'),
  stStep: $('st-step'), stT: $('st-t'), stRate: $('st-rate'), stEta: $('st-eta'), aboutModel: $('about-model'),
};

/** The page's state, readable by tests (window.__ddpmDemo). */
const demo = {
  state: 'loading',
  error: null,            // {title, detail} shown in the page
  loadMs: null,           // navigation start -> ready
  timings: {},            // ms since navigation start: wasmCompiled, modelFetched, workersReady
  modelFrom: null,        // 'network' | 'cache'
  modelUrl: null,
  models: [],             // URLs offered in the Model list (the shipped ones the server has)
  config: null,
  samplers: [],
  workers: 0,
  run: null,              // options of the last run (as sent to the pool, without init)
  step: 0, numSteps: 0, t: null,
  framesDrawn: 0,
  distinctFrames: 0,
  stepsPerSec: null,
  runMs: null,
  split: null,            // images per worker in the last run (web/pool.js splitBatch)
  stopClickedAtStep: null,
  stopLatencyMs: null,
  lastWorkerStep: null,   // the last step a worker finished (>= the step shown)
  finalBytes: null,       // Uint8Array [B, C, S, S]: the engine's bytes, exactly as the Node API's result.bytes()
  initPixels: null,       // the drawing the last run started from (S*S grey or S*S*4 RGBA bytes), else null
  lastPointerType: null,  // 'mouse' | 'pen' | 'touch': what last drew on the pad
  grid: null,             // {cols, rows, width, height}
};
window.__ddpmDemo = demo;

function setState(s) {
  demo.state = s;
  document.body.dataset.state = s;
  const busy = s === 'running' || s === 'loading' || s === 'stopping';
  // keep the keyboard focus on the run's buttons: a button that becomes disabled would drop it to <body>
  const focus = document.activeElement;
  const onRunButton = focus === el.generate || focus === el.stop || focus === document.body || focus === null;
  el.generate.disabled = busy || s === 'error' && !demo.config;
  el.stop.disabled = s !== 'running';
  el.model.disabled = busy;
  el.download.disabled = !(demo.finalBytes || (s === 'stopped' && frame)) || busy; // a stopped run: its last frame
  if (onRunButton && s === 'running') el.stop.focus();
  else if (onRunButton && runEnded(s) && !el.generate.disabled) el.generate.focus();
}
const runEnded = (s) => s === 'done' || s === 'stopped' || (s === 'error' && demo.run);

/* ---------------------------------------------------------------------------------------------------------------
 * Errors in plain words
 * ------------------------------------------------------------------------------------------------------------- */
function showError(title, detail = '') {
  demo.error = { title, detail };
  el.error.replaceChildren();
  const h = document.createElement('strong');
  h.textContent = title;
  el.error.append(h);
  if (detail) {
    const p = document.createElement('span');
    p.textContent = ' ' + detail;
    el.error.append(p);
  }
  el.error.hidden = false;
}

function clearError() {
  demo.error = null;
  el.error.hidden = true;
  el.error.replaceChildren();
}

function status(text) { el.status.textContent = text; }

/**
 * Loads the default model and fills the Model list. With ?model=URL that file alone (a wrong URL shows its error).
 * Otherwise the shipped entries (MODELS): the first is fetched at once while the others are probed with HEAD in
 * parallel; a 404 moves on to the next entry; the list offers the entries the server has. When every shipped file
 * is missing, the error names the first one.
 */
async function loadDefaultModel() {
  const q = new URLSearchParams(location.search).get('model');
  if (q) {
    demo.models = [q];
    fillModels([{ url: q, name: fileName(q) }]);
    try {
      return await loadModel(q);
    } catch (e) {
      // say what failed, and go on with the shipped models rather than leave the page dead
      const why = e instanceof UserError ? `${e.title} ${e.detail}` : e.message;
      await loadShippedModels();
      showError(`?model=${q} could not be used; the shipped model is loaded instead.`, why);
      demo.modelParamError = why;
      return undefined;
    }
  }
  return loadShippedModels();
}

async function loadShippedModels() {
  const missing = MODELS.map((m, i) => (i === 0 ? Promise.resolve(false) : isMissing(m.url)));
  for (let i = 0; i < MODELS.length; i++) {
    if (await missing[i]) continue;
    fillModels([MODELS[i]]);
    try {
      await loadModel(MODELS[i].url);
    } catch (e) {
      if (e.httpStatus === 404) { missing[i] = Promise.resolve(true); continue; }
      throw e;
    }
    const gone = await Promise.all(missing);
    const list = MODELS.filter((_, k) => !gone[k]);
    demo.models = list.map((m) => m.url);
    fillModels(list); // keeps the selection: the loaded entry is the first one left
    return;
  }
  throw modelHttpError(MODELS[0].url, 404);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Controls
 * ------------------------------------------------------------------------------------------------------------- */
let pool = null;
let wasmModule = null;
let stepsEdited = false;

function fillModels(list) {
  el.model.replaceChildren(...list.map((m) => new Option(m.name, m.url)));
}

/** A metadata value by its key, with or without the file's 'ddpm.' prefix. */
function meta(cfg, key) {
  const md = cfg.metadata || {};
  return md[`ddpm.${key}`] ?? md[key];
}

function classNames(cfg) {
  for (const key of ['class_names', 'classes', 'labels']) {
    const text = meta(cfg, key);
    if (!text) continue;
    try {
      const v = JSON.parse(text);
      if (Array.isArray(v) && v.length === cfg.numClasses) return v.map(String);
    } catch {
      const v = text.split(',').map((s) => s.trim());
      if (v.length === cfg.numClasses) return v;
    }
  }
  if (cfg.numClasses === 10 && /fashion|fmnist/i.test(String(meta(cfg, 'dataset')) + el.model.value)) return FMNIST_CLASSES;
  return Array.from({ length: cfg.numClasses }, (_, k) => `Class ${k}`);
}

function fillClasses(cfg) {
  const cond = cfg.numClasses > 0;
  for (const f of document.querySelectorAll('.field.cond')) f.hidden = !cond;
  if (!cond) return;
  const keep = el.cls.value;
  const names = classNames(cfg);
  el.cls.replaceChildren(...names.map((n, k) => new Option(n, String(k))),
    new Option('None (unconditional)', '-1'));
  if (keep && [...el.cls.options].some((o) => o.value === keep)) el.cls.value = keep;
  syncGuidance();
}

function defaultSteps(sampler) {
  const T = demo.config ? demo.config.numTimesteps : 1000;
  return sampler === 'ddpm' ? T : Math.min(50, T);
}

/** prefer: the model's own default sampler (a diffusers scheduler's), else the one chosen before stays. */
function fillSamplers(list, prefer = null) {
  const keep = prefer || el.sampler.value || 'ddpm';
  el.sampler.replaceChildren(...list.map((s) => {
    const o = new Option(samplerLabel(s), s.name);
    o.title = s.description;
    return o;
  }));
  el.sampler.value = list.some((s) => s.name === keep) ? keep : list[0] ? list[0].name : '';
  onSamplerChange();
}

/** The selected sampler's own options (web/sampler-fields.js) and its default number of steps. */
function onSamplerChange() {
  const info = demo.samplers.find((s) => s.name === el.sampler.value);
  renderSamplerOptions(el.samplerOptions, el.samplerHelp, info, demo.config);
  if (info && !stepsEdited) el.steps.value = String(defaultSteps(info.name));
}

function intField(input, name, lo, hi) {
  const v = Number(input.value);
  if (input.value.trim() === '' || !Number.isInteger(v) || v < lo || v > hi) {
    input.focus();
    throw new UserError(`Check "${name}".`, `It must be a whole number from ${lo} to ${hi}.`, input);
  }
  return v;
}

function randomSeed() {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}

/** The SampleOptions of the form (without init). */
function readOptions() {
  const cfg = demo.config;
  const opts = {
    sampler: el.sampler.value,
    samplerOptions: readSamplerOptions(el.samplerOptions),
    steps: intField(el.steps, 'Steps', 1, cfg.numTimesteps),
    seed: intField(el.seed, 'Seed', 0, Number.MAX_SAFE_INTEGER),
    batch: intField(el.batch, 'Images', 1, 64),
  };
  if (cfg.numClasses > 0) {
    const c = Number(el.cls.value);
    opts.classLabel = c >= 0 ? c : null;
    if (opts.classLabel === null) return opts; // the null class is sampled unguided (guidance needs a class)
    const g = Number(el.guidance.value);
    const gMin = Number(el.guidance.min), gMax = Number(el.guidance.max);
    if (el.guidance.value.trim() === '' || !Number.isFinite(g) || g < gMin || g > gMax) {
      el.guidance.focus();
      throw new UserError('Check "Guidance scale".', `It must be a number from ${gMin} to ${gMax} (1 = no guidance).`,
        el.guidance);
    }
    opts.guidance = g;
  }
  return opts;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The output canvas: a grid of B images, drawn at native size and scaled up by CSS in whole multiples
 * ------------------------------------------------------------------------------------------------------------- */
const outCtx = el.out.getContext('2d');
let frame = null;          // the latest {x, x0} (u8 [B, C, S, S]) to redraw when the view switches
let gridImage = null;      // ImageData of the grid

function layoutGrid(batch, size) {
  const cols = Math.ceil(Math.sqrt(batch));
  const rows = Math.ceil(batch / cols);
  const width = cols * size + (cols - 1) * GRID_GAP;
  const height = rows * size + (rows - 1) * GRID_GAP;
  demo.grid = { cols, rows, width, height, size, batch };
  if (el.out.width !== width || el.out.height !== height) {
    el.out.width = width;
    el.out.height = height;
  }
  gridImage = outCtx.createImageData(width, height);
  const d = gridImage.data;
  for (let i = 0; i < d.length; i += 4) { d[i] = d[i + 1] = d[i + 2] = GAP_GREY; d[i + 3] = 255; }
  fitCanvas();
}

/** Scales the canvas by the largest whole factor that fits the stage (crisp pixels at any size). */
function fitCanvas() {
  const w = el.out.width, h = el.out.height;
  const avail = Math.max(64, el.stage.clientWidth);
  const maxH = Math.max(160, Math.min(window.innerHeight * 0.7, 720));
  const k = Math.max(1, Math.floor(Math.min(avail / w, maxH / h)));
  el.out.style.width = `${w * k}px`;
  el.out.style.height = `${h * k}px`;
}

/** Paints u8 pixels [B, C, S, S] (C = 1 grey or 3 RGB) into the grid. */
function paint(pixels) {
  const { cols, size, batch, width } = demo.grid;
  const C = demo.config.inChannels;
  const plane = size * size;
  const d = gridImage.data;
  for (let k = 0; k < batch; k++) {
    const ox = (k % cols) * (size + GRID_GAP), oy = Math.floor(k / cols) * (size + GRID_GAP);
    const base = k * C * plane;
    for (let y = 0; y < size; y++) {
      let o = ((oy + y) * width + ox) * 4;
      for (let x = 0; x < size; x++, o += 4) {
        const p = base + y * size + x;
        if (C >= 3) { d[o] = pixels[p]; d[o + 1] = pixels[p + plane]; d[o + 2] = pixels[p + 2 * plane]; }
        else d[o] = d[o + 1] = d[o + 2] = pixels[p];
        d[o + 3] = 255;
      }
    }
  }
  outCtx.putImageData(gridImage, 0, 0);
}

function view() { return document.querySelector('input[name="view"]:checked').value; }

// FNV-1a of a frame, to count the distinct frames drawn (a test hook; cheap next to a U-Net step).
const frameHashes = new Set();
function hashBytes(a) {
  let h = 0x811c9dc5;
  for (let i = 0; i < a.length; i++) { h ^= a[i]; h = Math.imul(h, 0x01000193); }
  return h >>> 0;
}

function drawFrame() {
  if (!frame) return;
  const px = view() === 'x0' ? frame.x0 : frame.x;
  paint(px);
  demo.framesDrawn++;
  frameHashes.add(hashBytes(px));
  demo.distinctFrames = frameHashes.size;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Progress: step counter, t, steps/s, ETA
 * ------------------------------------------------------------------------------------------------------------- */
let rateWindow = [];   // [{time, step}] of the last few seconds

function fmtDuration(s) {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

function updateStats(step, numSteps, t) {
  const now = performance.now();
  rateWindow.push({ time: now, step });
  while (rateWindow.length > 2 && now - rateWindow[0].time > 3000) rateWindow.shift();
  const a = rateWindow[0], b = rateWindow[rateWindow.length - 1];
  const rate = b.time > a.time && b.step > a.step ? (b.step - a.step) * 1000 / (b.time - a.time) : null;
  demo.step = step; demo.numSteps = numSteps; demo.t = t; demo.stepsPerSec = rate;
  el.stStep.textContent = `${step} / ${numSteps}`;
  const r = demo.run;
  if (r && r.init && numSteps < r.steps) { // image-to-image starts part-way down the grid: say so once
    const why = `From the drawing at strength ${r.strength.toFixed(2)}: the run starts part-way, ${numSteps} of ` +
      `the ${r.steps} steps.`;
    el.stStep.title = why;
    if (step === 1) status(why);
  } else {
    el.stStep.title = '';
  }
  el.stT.textContent = t == null ? '–' : String(t);
  el.stRate.textContent = rate ? rate.toFixed(rate < 10 ? 1 : 0) : '–';
  el.stEta.textContent = rate ? fmtDuration((numSteps - step) / rate) : '–';
}

/* ---------------------------------------------------------------------------------------------------------------
 * Generate / Stop / Download
 * ------------------------------------------------------------------------------------------------------------- */
/* A message under the field whose value is wrong (removed at the next Generate). */
function fieldError(input, text) {
  const field = input.closest('.field') || input.parentElement;
  const p = document.createElement('p');
  p.className = 'field-error';
  p.id = `${input.id}-error`;
  p.textContent = text;
  field.append(p);
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-errormessage', p.id);
  input.focus();
}
function clearFieldErrors() {
  for (const p of document.querySelectorAll('.field-error')) p.remove();
  for (const i of document.querySelectorAll('[aria-invalid]')) { i.removeAttribute('aria-invalid'); i.removeAttribute('aria-errormessage'); }
}

async function generate() {
  if (demo.state === 'running' || !pool) return;
  clearError();
  clearFieldErrors();
  let opts, workers;
  try {
    opts = readOptions();
    workers = intField(el.workers, 'Workers', 1, MAX_WORKERS);
  } catch (e) {
    // beside the control that caused it, in the status line next to Generate, and in the banner; focus on it
    showError(e.title || 'Check the settings.', e.detail || e.message);
    status(`${e.title || 'Check the settings.'} ${e.detail || e.message}`);
    if (e.field) fieldError(e.field, e.detail || e.message);
    return;
  }
  const runOpts = { ...opts };
  demo.initPixels = null;
  if (el.useDrawing.checked) {
    opts.init = pad.pixels();
    demo.initPixels = opts.init.slice();
    opts.strength = Number(el.strength.value);
    runOpts.strength = opts.strength;
    runOpts.init = 'drawing';
  }
  const size = demo.config.imageSize;
  demo.run = { ...runOpts, workers };
  demo.finalBytes = null;
  demo.step = 0; demo.numSteps = 0; demo.t = null;
  demo.framesDrawn = 0; demo.distinctFrames = 0; frameHashes.clear();
  demo.stopClickedAtStep = null; demo.stopLatencyMs = null; demo.lastWorkerStep = null;
  demo.runMs = null; demo.stepsPerSec = null;
  stopClickTime = 0;
  rateWindow = [{ time: performance.now(), step: 0 }];
  frame = null;
  layoutGrid(opts.batch, size);
  ['stStep', 'stT', 'stRate', 'stEta'].forEach((k) => { el[k].textContent = '–'; });
  setState('running');
  status(`Sampling ${opts.batch} image${opts.batch > 1 ? 's' : ''} with ${opts.sampler}…`);
  try {
    await pool.resize(workers);
    demo.workers = pool.workers.length;
    const res = await pool.run(opts, (f) => {
      frame = f;
      drawFrame();
      updateStats(f.step, f.numSteps, f.t);
    });
    demo.runMs = res.ms;
    demo.split = res.split;
    demo.lastWorkerStep = res.lastStep;
    if (res.stopped) {
      demo.stopLatencyMs = stopClickTime ? performance.now() - stopClickTime : null;
      setState('stopped');
      status(`Stopped at step ${demo.step} of ${demo.numSteps}.`);
      el.stEta.textContent = '–';
      return;
    }
    demo.finalBytes = res.bytes;
    frame = null;
    paint(res.bytes);
    const secs = res.ms / 1000;
    el.stRate.textContent = demo.numSteps ? (demo.numSteps / secs).toFixed(1) : '–';
    el.stEta.textContent = 'done';
    setState('done');
    status(`Done: ${demo.numSteps} steps in ${secs.toFixed(1)} s` +
      (res.split.length > 1 ? ` on ${res.split.length} workers (${res.split.join(' + ')} images).` : '.'));
  } catch (e) {
    setState('ready');
    showError('Sampling failed.', `${e.message}${e.code ? ` (${e.code})` : ''}`);
    status('Sampling failed.');
  }
}

let stopClickTime = 0;
function stop() {
  if (demo.state !== 'running') return;
  stopClickTime = performance.now();
  demo.stopClickedAtStep = demo.step;
  setState('stopping');
  status('Stopping…');
  pool.stop();
}

function download() {
  const partial = !demo.finalBytes;
  if (partial && !(demo.state === 'stopped' && frame)) return;
  const k = Number(el.pngScale.value) || 1;
  const c = document.createElement('canvas');
  c.width = el.out.width * k;
  c.height = el.out.height * k;
  const ctx = c.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(el.out, 0, 0, c.width, c.height);
  const r = demo.run || {};
  const cls = r.classLabel != null ? `-class${r.classLabel}` : '';
  const part = partial ? `-stopped-at-step${demo.step}of${demo.numSteps}${view() === 'x0' ? '-x0' : ''}` : '';
  const name = `ddpm-${r.sampler}-${r.steps}steps-seed${r.seed}${cls}${r.init ? '-drawing' : ''}${part}.png`;
  demo.lastDownload = name;
  c.toBlob((blob) => {
    if (!blob) { showError('The PNG could not be made.'); return; }
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }, 'image/png');
}

/* "Start from my drawing": web/pad.js */
const pad = createPad(el, {
  config: () => demo.config, showError, clearError, status,
  pointerType: (t) => { demo.lastPointerType = t; },
});

/* ---------------------------------------------------------------------------------------------------------------
 * Start-up
 * ------------------------------------------------------------------------------------------------------------- */
async function loadModel(url) {
  setState('loading');
  clearError();
  status(`Loading ${fileName(url)}…`);
  const t0 = performance.now();
  const { bytes, from } = await fetchModel(url, (p) => status(`Downloading ${fileName(url)}… ${Math.round(p * 100)}%`));
  demo.timings.modelFetched = performance.now();
  await startModel(bytes, { name: fileName(url), url, from, t0 });
}

/* The current model: { model (what the workers were given), name, url, from }, to go back to when another fails. */
let current = null;
const yourModels = new Map(); // Model-list value -> { model, name } of the models loaded with "Your model"

/** Hands a model (a file's ArrayBuffer, or a diffusers model's resolved bytes) to the workers and shows it. */
async function startModel(model, { name, url = null, from, t0 = performance.now() }) {
  setState('loading');
  status(`Starting the engine${MAX_WORKERS > 1 ? 's' : ''}…`);
  if (!wasmModule) wasmModule = await wasmPromise;
  let info;
  try {
    info = await pool.load(wasmModule, model, { plugins: PLUGINS });
    demo.timings.workersReady = performance.now();
  } catch (e) {
    if (e.stage === 'engine') {
      throw new UserError('The engine failed to start.', `${e.message}${e.code ? ` (${e.code})` : ''}`);
    }
    throw new UserError('The model file could not be used.',
      `${name} was read but the engine rejected it: ${e.message}${e.code ? ` (${e.code})` : ''}.`);
  }
  current = { model, name, url, from };
  demo.modelUrl = url ?? name;
  demo.modelFrom = from;
  demo.config = info.config;
  demo.samplers = info.samplers;
  demo.workers = pool.workers.length;
  demo.threads = info.threads ?? 1; // threads per image in each worker (models of 2 GFLOP or more, isolated pages)
  demo.threadsUnavailable = info.threadsUnavailable ?? null;
  const cfg = info.config;
  el.steps.max = String(cfg.numTimesteps);
  fillClasses(cfg);
  fillSamplers(info.samplers, cfg.format === 'diffusers' ? cfg.defaults.sampler : null);
  layoutGrid(1, cfg.imageSize);
  pad.refresh();
  const dataset = meta(cfg, 'dataset'), note = meta(cfg, 'note');
  el.aboutModel.textContent = `${name}: ${(cfg.params / 1e6).toFixed(2)} M parameters, ` +
    `${cfg.imageSize}×${cfg.imageSize}×${cfg.inChannels}, T = ${cfg.numTimesteps}, ` +
    `${(cfg.flops / 1e9).toFixed(2)} GFLOP per evaluation` +
    (dataset ? `; data: ${dataset}` : '') + (note ? ` (${note})` : '') + `; engine ${info.version}` +
    `${from === 'cache' ? '; model read from the browser cache' : ''}` +
    (demo.threads > 1 ? `; each worker splits an image across ${demo.threads} threads` : '') + '.';
  if (demo.loadMs == null) demo.loadMs = performance.now();
  setState('ready');
  status(`Ready (${Math.round(performance.now() - t0)} ms). Press Generate.`);
}

let wasmPromise = null;

async function main() {
  setState('loading');
  el.workers.max = String(MAX_WORKERS);
  document.getElementById('workers-help').textContent = `Background threads that share the grid, 1 to ${MAX_WORKERS} ` +
    `(this device's ${navigator.hardwareConcurrency || 1} cores, at most 8); the images are the same for any number.`;
  el.seed.max = String(Number.MAX_SAFE_INTEGER);
  pad.clear();
  if (!(typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE))) {
    throw new UserError('This browser cannot run the engine: it lacks WebAssembly SIMD.',
      'Use a current version of Chrome, Edge, Firefox or Safari (16.4 or later).');
  }
  if (typeof Worker === 'undefined') {
    throw new UserError('This browser cannot run the engine: it has no Web Workers.');
  }
  openCache();
  wasmPromise = compileEngine(WASM_URL).then((m) => { demo.timings.wasmCompiled = performance.now(); return m; });
  wasmPromise.then((m) => pool.startEngine(m), () => {}); // a failure is reported by loadModel
  el.workers.value = String(Math.min(2, MAX_WORKERS));
  pool = new WorkerPool(WORKER_URL, Number(el.workers.value));
  pool.warm();
  await loadDefaultModel();
}

el.generate.addEventListener('click', generate);
el.stop.addEventListener('click', stop);
el.download.addEventListener('click', download);
el.randomSeed.addEventListener('click', () => { el.seed.value = String(randomSeed()); });
el.steps.addEventListener('input', () => { stepsEdited = true; });
el.sampler.addEventListener('change', onSamplerChange);
el.model.addEventListener('change', () => {
  const mine = yourModels.get(el.model.value);
  (mine ? startModel(mine.model, { name: mine.name, from: 'your model' }) : loadModel(el.model.value)).catch(fail);
});

/** "Your model" (web/your-model.js): the resolved bytes become the current model and an entry of the Model list; a
 *  model the engine rejects leaves the one before in place. */
async function useYourModel(model, name) {
  const before = current;
  clearError();
  if (pool.active) { // a run that started during the download ends first
    stop();
    while (pool.active) await new Promise((r) => setTimeout(r, 50));
  }
  try {
    await startModel(model, { name, from: 'your model' });
  } catch (e) {
    if (before) await startModel(before.model, before).catch(fail);
    else setState('error');
    throw e;
  }
  const value = `your:${name}`;
  yourModels.set(value, { model, name });
  if (![...el.model.options].some((o) => o.value === value)) el.model.append(new Option(`Your model: ${name}`, value));
  el.model.value = value;
  return demo.config;
}
setupYourModel({ demo, use: useYourModel, showError, clearError,
  busy: () => ['loading', 'running', 'stopping'].includes(demo.state) });
for (const r of document.querySelectorAll('input[name="view"]')) r.addEventListener('change', drawFrame);
el.workers.addEventListener('change', () => {
  const n = Number(el.workers.value);
  if (Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS && pool && demo.state !== 'loading') {
    pool.resize(n).then(() => { demo.workers = pool.workers.length; }).catch(fail);
  }
});
document.getElementById('controls').addEventListener('submit', (ev) => { ev.preventDefault(); generate(); });
// Enter in a field of the form generates (the form has no submit button of its own)
document.getElementById('controls').addEventListener('keydown', (ev) => {
  const t = ev.target;
  if (ev.key !== 'Enter' || ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.isComposing) return; // a field's own Enter
  if (!(t instanceof HTMLInputElement)) return;
  if (t.type === 'checkbox' || t.type === 'radio' || t.type === 'file') return;
  ev.preventDefault();
  if (!el.generate.disabled && demo.state !== 'running') generate();
});
// The guidance scale means nothing for the null class: shown as off while "None" is chosen
el.cls.addEventListener('change', syncGuidance);
function syncGuidance() {
  const none = Number(el.cls.value) < 0;
  el.guidance.disabled = none;
  el.guidance.title = none ? 'No guidance for the null class (unconditional sampling)' : '';
}
window.addEventListener('resize', fitCanvas);
// Ctrl/Cmd+Enter generates, Escape stops, from anywhere on the page.
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && demo.state === 'running') stop();
  else if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && !el.generate.disabled) generate();
});

function fail(e) {
  if (pool && !pool.info) demo.config = null; // nothing loaded to sample with
  setState('error');
  if (e instanceof UserError) showError(e.title, e.detail);
  else showError('Something went wrong.', e && e.message ? e.message : String(e));
  status(demo.config ? 'Not ready.' : 'The demo could not start.');
}

main().catch(fail);

/**
 * app.js — the demo page's main thread: the form, Generate / Stop / Download, which model is current. The engine
 * runs in Web Workers through the package's own worker API (workers.js: createWorkerEngine), so this thread only
 * moves pixels to canvases and stays responsive. The parts: the output grid (grid.js), progress and the step-time
 * chart (progress.js), the reverse-process filmstrip (filmstrip.js), the forward-process view (forward.js), the
 * Model list (model-list.js), downloads (downloads.js), "Your model" (your-model.js), the drawing pad (pad.js).
 *
 * URL parameters (optional): ?model=URL loads that model file instead of the shipped list (relative to the page);
 * ?hub=URL is where "Your model" resolves hf: ids (web/your-model.js).
 *
 * Test hook: window.__ddpmDemo holds the page's state (see `demo` below) for browser-tests/; body[data-state]
 * mirrors demo.state ('loading' | 'ready' | 'running' | 'done' | 'stopped' | 'error').
 */
import { createWorkerEngine } from './workers.js';
import { UserError, fileName, compileEngine, openCache, fetchModel, saveCanvasPng } from './downloads.js';
import { setupYourModel } from './your-model.js';
import { createPad } from './pad.js';
import { readSamplerOptions, renderSamplerOptions, samplerLabel } from './sampler-fields.js';
import { createGrid } from './grid.js';
import { createProgress } from './progress.js';
import { createFilmstrip } from './filmstrip.js';
import { createForwardView } from './forward.js';
import { cardOf, classNames, loadDefaultModel, meta } from './model-list.js';
import { setupModelCard } from './model-card.js';

const WASM_URL = new URL('dist/ddpm.wasm', import.meta.url);
// Sampler plugins written in JavaScript, registered into every worker's engine next to the built-in C samplers.
const PLUGINS = [new URL('plugins/ddim.js', import.meta.url).href];
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
  chart: $('step-chart'), chartNote: $('step-chart-note'), card: $('model-card'),
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
  run: null,              // options of the last run (as sent to the engine, without init)
  step: 0, numSteps: 0, t: null,
  stepMs: [],             // ms of every step of the run (the step-time chart)
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

let engine = null;        // the WorkerEngine (createWorkerEngine)
let enginePromise = null;
let wmodel = null;        // its current WorkerModel
let frame = null;         // the latest StepInfo ({x, x0} floats) to redraw when the view switches
let stepsEdited = false;

const grid = createGrid(el.out, el.stage, demo);
const card = setupModelCard($('card-dialog'), el.card);
const progress = createProgress(el, demo, status);
const strip = createFilmstrip({ canvas: $('filmstrip'), download: $('filmstrip-download'), caption: $('filmstrip-caption') },
  demo, el.pngScale);

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

/* ---- errors in plain words: the banner, the status line next to Generate, beside the field ---- */
function showError(title, detail = '') {
  demo.error = { title, detail };
  const h = document.createElement('strong');
  h.textContent = title;
  el.error.replaceChildren(h);
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

/* ---- controls ---- */
function fillClasses(cfg) {
  const cond = cfg.numClasses > 0;
  for (const f of document.querySelectorAll('.field.cond')) f.hidden = !cond;
  if (!cond) return;
  const keep = el.cls.value;
  el.cls.replaceChildren(...classNames(cfg).map((n, k) => new Option(n, String(k))), new Option('None (unconditional)', '-1'));
  if (keep && [...el.cls.options].some((o) => o.value === keep)) el.cls.value = keep;
  syncGuidance();
}

// The guidance scale means nothing for the null class: shown as off while "None" is chosen
function syncGuidance() {
  const none = Number(el.cls.value) < 0;
  el.guidance.disabled = none;
  el.guidance.title = none ? 'No guidance for the null class (unconditional sampling)' : '';
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

const view = () => document.querySelector('input[name="view"]:checked').value;

function drawFrame() {
  if (!frame) return;
  grid.frame(view() === 'x0' ? frame.x0 : frame.x);
}

/* ---- Generate / Stop / Download ---- */
let runCtl = null;   // the AbortController of the run in progress
let running = null;  // its promise
let stopClickTime = 0;

function generate() {
  if (demo.state === 'running' || !wmodel) return;
  running = runOnce().finally(() => { running = null; });
}

async function runOnce() {
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
  demo.run = { ...runOpts, workers };
  demo.finalBytes = null;
  demo.framesDrawn = 0; demo.distinctFrames = 0; grid.resetCount();
  demo.stopClickedAtStep = null; demo.stopLatencyMs = null; demo.lastWorkerStep = null;
  demo.runMs = null;
  stopClickTime = 0;
  frame = null;
  progress.reset();
  strip.reset(0, demo.config);
  grid.layout(opts.batch, demo.config.imageSize);
  setState('running');
  status(`Sampling ${opts.batch} image${opts.batch > 1 ? 's' : ''} with ${opts.sampler}…`);
  const ctl = runCtl = new AbortController();
  try {
    await engine.resize(workers);
    demo.workers = engine.workers;
    const it = wmodel.steps({ ...opts, signal: ctl.signal });
    for await (const s of it) {
      if (ctl.signal.aborted) continue; // Stop was pressed: the picture stays at the step shown then
      frame = s;
      drawFrame();
      progress.update(s.step, s.numSteps, s.t);
      strip.add(s);
    }
    const res = await it.result;
    demo.runMs = res.stats.ms;
    demo.split = res.stats.split;
    demo.lastWorkerStep = res.stats.lastStep;
    demo.finalBytes = res.bytes();
    frame = null;
    grid.paint(res.images);
    progress.finish(res.stats.ms);
    setState('done');
    status(`Done: ${demo.numSteps} steps in ${(res.stats.ms / 1000).toFixed(1)} s` +
      (res.stats.split.length > 1 ? ` on ${res.stats.split.length} workers (${res.stats.split.join(' + ')} images).` : '.'));
  } catch (e) {
    if (e.code === 'ABORTED' && ctl.signal.aborted) {
      demo.runMs = e.stats?.ms ?? null;
      demo.lastWorkerStep = e.stats?.lastStep ?? demo.step;
      demo.stopLatencyMs = stopClickTime ? performance.now() - stopClickTime : null;
      setState('stopped');
      status(`Stopped at step ${demo.step} of ${demo.numSteps}.`);
      el.stEta.textContent = '–';
      return;
    }
    setState('ready');
    const msg = `${e.message}${e.code ? ` (${e.code})` : ''}`;
    showError('Sampling failed.', msg);
    status(`Sampling failed: ${msg}`);
  } finally {
    if (runCtl === ctl) runCtl = null;
  }
}

function stop() {
  if (demo.state !== 'running' || !runCtl) return;
  stopClickTime = performance.now();
  demo.stopClickedAtStep = demo.step;
  setState('stopping');
  status('Stopping…');
  runCtl.abort();
}

function runName(suffix = '') {
  const r = demo.run || {};
  const cls = r.classLabel != null ? `-class${r.classLabel}` : '';
  return `ddpm-${r.sampler}-${r.steps}steps-seed${r.seed}${cls}${r.init ? '-drawing' : ''}${suffix}`;
}

function download() {
  const partial = !demo.finalBytes;
  if (partial && !(demo.state === 'stopped' && frame)) return;
  const name = `${runName(partial ? `-stopped-at-step${demo.step}of${demo.numSteps}${view() === 'x0' ? '-x0' : ''}` : '')}.png`;
  demo.lastDownload = name;
  saveCanvasPng(el.out, Number(el.pngScale.value) || 1, name, () => showError('The PNG could not be made.'));
}

/* "Start from my drawing": web/pad.js */
const pad = createPad(el, {
  config: () => demo.config, showError, clearError, status,
  pointerType: (t) => { demo.lastPointerType = t; },
});

/* The forward process: web/forward.js */
const forward = createForwardView({ source: $('fwd-source'), t: $('fwd-t'), tOut: $('fwd-t-out'), images: $('fwd-images'),
  plot: $('fwd-plot'), stats: $('fwd-stats') }, {
  demo, model: () => wmodel, drawing: () => pad.pixels(),
  seed: () => { const v = Number(el.seed.value); return Number.isSafeInteger(v) && v >= 0 ? v : 0; },
});

/* ---- models ---- */
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
  engine = await enginePromise;
  try {
    wmodel = null;
    wmodel = await engine.loadModel(model);
    demo.timings.workersReady = performance.now();
  } catch (e) {
    const why = `${e.message}${e.code ? ` (${e.code})` : ''}`;
    if (e.stage === 'engine') throw new UserError('The engine failed to start.', why);
    throw new UserError('The model file could not be used.', `${name} was read but the engine rejected it: ${why}.`);
  }
  current = { model, name, url, from };
  demo.modelUrl = url ?? name;
  demo.modelFrom = from;
  const cfg = demo.config = wmodel.config;
  demo.samplers = engine.samplers();
  demo.workers = engine.workers;
  demo.threads = wmodel.threads; // threads per image in each worker (models of 2 GFLOP or more, isolated pages)
  demo.threadsUnavailable = wmodel.threadsUnavailable;
  el.steps.max = String(cfg.numTimesteps);
  fillClasses(cfg);
  fillSamplers(demo.samplers, cfg.format === 'diffusers' ? cfg.defaults.sampler : null);
  grid.layout(1, cfg.imageSize);
  strip.reset(0, cfg);
  pad.refresh();
  describeModel(cfg, name, url, from);
  forward.setModel().catch(() => {});
  if (demo.loadMs == null) demo.loadMs = performance.now();
  setState('ready');
  status(`Ready (${Math.round(performance.now() - t0)} ms). Press Generate.`);
}

function describeModel(cfg, name, url, from) {
  const dataset = meta(cfg, 'dataset'), note = meta(cfg, 'note');
  el.aboutModel.textContent = `${name}: ${(cfg.params / 1e6).toFixed(2)} M parameters, ` +
    `${cfg.imageSize}×${cfg.imageSize}×${cfg.inChannels}, T = ${cfg.numTimesteps}, ` +
    `${(cfg.flops / 1e9).toFixed(2)} GFLOP per evaluation` +
    (dataset ? `; data: ${dataset}` : '') + (note ? ` (${note})` : '') + `; engine ${engine.version}` +
    `${from === 'cache' ? '; model read from the browser cache' : ''}` +
    (demo.threads > 1 ? `; each worker splits an image across ${demo.threads} threads` : '') + '.';
  card.set(cfg, name, cardOf(url));
  const fd = Number(meta(cfg, 'fd_10k')), floor = Number(meta(cfg, 'fd_floor_10k'));
  el.card.textContent = 'Model card' + (fd > 0 ? ` (FD ${fd.toFixed(2)}${floor > 0 ? `, ${(fd / floor).toFixed(0)}× the data's own floor` : ''})` : '');
}

/** "Your model" (web/your-model.js): the resolved bytes become the current model and an entry of the Model list; a
 *  model the engine rejects leaves the one before in place. */
async function useYourModel(model, name) {
  const before = current;
  clearError();
  if (running) { stop(); await running; } // a run that started during the download ends first
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

/* ---- start-up ---- */
async function main() {
  setState('loading');
  el.workers.max = String(MAX_WORKERS);
  $('workers-help').textContent = `Background threads that share the grid, 1 to ${MAX_WORKERS} ` +
    `(this device's ${navigator.hardwareConcurrency || 1} cores, at most 8); the images are the same for any number.`;
  el.seed.max = String(Number.MAX_SAFE_INTEGER);
  pad.clear();
  if (!(typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE))) {
    throw new UserError('This browser cannot run the engine: it lacks WebAssembly SIMD.',
      'Use a current version of Chrome, Edge, Firefox or Safari (16.4 or later).');
  }
  if (typeof Worker === 'undefined') throw new UserError('This browser cannot run the engine: it has no Web Workers.');
  openCache();
  el.workers.value = String(Math.min(2, MAX_WORKERS));
  // the workers start and the wasm compiles while the default model downloads
  const wasm = compileEngine(WASM_URL).then((m) => { demo.timings.wasmCompiled = performance.now(); return m; });
  enginePromise = createWorkerEngine({ workers: Number(el.workers.value), wasm });
  enginePromise.catch(() => {}); // reported by startModel
  const withPlugins = enginePromise.then(async (e) => { for (const p of PLUGINS) await e.registerSampler(p); return e; });
  enginePromise = withPlugins;
  await loadDefaultModel({ select: el.model, demo, loadModel, showError });
}

el.generate.addEventListener('click', generate);
el.stop.addEventListener('click', stop);
el.download.addEventListener('click', download);
$('filmstrip-download').addEventListener('click', () => strip.download(`${runName('-filmstrip')}.png`));
el.randomSeed.addEventListener('click', () => { el.seed.value = String(randomSeed()); forward.update(); });
el.seed.addEventListener('change', () => forward.update());
el.steps.addEventListener('input', () => { stepsEdited = true; });
el.sampler.addEventListener('change', onSamplerChange);
el.model.addEventListener('change', () => {
  const mine = yourModels.get(el.model.value);
  (mine ? startModel(mine.model, { name: mine.name, from: 'your model' }) : loadModel(el.model.value)).catch(fail);
});
setupYourModel({ demo, use: useYourModel, showError, clearError,
  busy: () => ['loading', 'running', 'stopping'].includes(demo.state) });
for (const r of document.querySelectorAll('input[name="view"]')) r.addEventListener('change', drawFrame);
el.workers.addEventListener('change', () => {
  const n = Number(el.workers.value);
  if (Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS && engine && demo.state !== 'loading') {
    engine.resize(n).then(() => { demo.workers = engine.workers; }).catch(fail);
  }
});
document.getElementById('controls').addEventListener('submit', (ev) => { ev.preventDefault(); generate(); });
// Enter in a field of the form generates (the form has no submit button of its own)
document.getElementById('controls').addEventListener('keydown', (ev) => {
  const t = ev.target;
  if (ev.key !== 'Enter' || ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.isComposing) return; // a field's own Enter
  if (!(t instanceof HTMLInputElement)) return;
  if (t.type === 'checkbox' || t.type === 'radio' || t.type === 'file' || t.type === 'range') return;
  ev.preventDefault();
  if (!el.generate.disabled && demo.state !== 'running') generate();
});
el.cls.addEventListener('change', syncGuidance);
window.addEventListener('resize', () => grid.fit());
// Ctrl/Cmd+Enter generates, Escape stops, from anywhere on the page.
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && demo.state === 'running') stop();
  else if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && !el.generate.disabled) generate();
});

function fail(e) {
  if (!wmodel) demo.config = null; // nothing loaded to sample with
  setState('error');
  if (e instanceof UserError) showError(e.title, e.detail);
  else showError('Something went wrong.', e && e.message ? e.message : String(e));
  status(demo.config ? 'Not ready.' : 'The demo could not start.');
}

main().catch(fail);

/**
 * worker.js — runs the DDPM engine (ddpm.js + ddpm.wasm) off the main thread. One worker = one engine + one model.
 * Driven by pool.js (the demo page, and the package's worker API, workers.js).
 *
 * Messages in (from pool.js):
 *   {type:'engine', wasm: WebAssembly.Module | ArrayBuffer}
 *       instantiates the engine early (while the page still fetches the model); a failure is reported as below.
 *   {type:'init', wasm, model: ArrayBuffer | {weights, config, scheduler}, loadOptions?, plugins?: [url], threads?}
 *       (re)loads: the engine once, the model every time (the previous one is disposed). model: a weights file, or
 *       a diffusers model's bytes as web/hub.js resolveModel returns them (the page downloads, the worker parses);
 *       loadOptions: engine.loadModel's {quantize, winograd, compact}; plugins: URLs of sampler-plugin modules
 *       (default export: a JsSamplerPlugin) registered once into this worker's engine; threads: how many threads
 *       one image may use (Model.setThreads), applied to models of 2 GFLOP or more when the page is cross-origin
 *       isolated (the engine is the threaded module there; the same bits).
 *       -> {type:'ready', version, config, samplers, ms, threads, threadsUnavailable}
 *          or {type:'error', id:null, stage:'engine'|'model', ...}
 *   {type:'run', id, opts, float?}   opts: SampleOptions without the callbacks/signal (structured-cloneable)
 *       -> {type:'step', id, step, numSteps, t, x, x0}   after every `every`-th step: Uint8Array, or with float
 *          the engine's Float32Array copies
 *       -> {type:'done', id, bytes: Uint8Array, images?: Float32Array (float), lastStep, ms}
 *        | {type:'stopped', id, lastStep}
 *        | {type:'error', id, code, message}
 *   {type:'stop', id}        stop the run: it ends after the step in progress (at most one more step).
 *   {type:'qsample', rid, x0, t, seed, image}   the forward process on the loaded model (Model.qSample), answered
 *       between two steps of a run in progress: -> {type:'reply', rid, xt, eps} | {type:'reply', rid, error}
 *   {type:'schedule', rid}   the model's schedule arrays (Model.schedule) -> {type:'reply', rid, schedule} | error
 *
 * x and x0 of step messages are the worker's own images [n, C, S, S] as 8-bit pixels (ddpm_to_u8's mapping); the
 * final `bytes` are the engine's own SampleResult.bytes(), exactly what the Node API and the CLI produce.
 */

import { toU8 } from './lib/pixels.js';
import { THREADS_AUTO_MIN_FLOPS } from './lib/constants.js';

// Imported as soon as the worker starts, while the page is still fetching the model.
const ddpmImport = import('./ddpm.js');
ddpmImport.catch(() => {}); // reported by init()

// Sampler plugins written in JavaScript, registered into the engine's registry next to the built-in C samplers:
// the URLs the init message names (each once). A plugin that fails to load is reported as a load error.
const registered = new Set();
let engine = null;
let model = null;
let current = null;   // {id, stop: boolean, abort: AbortController}
let chain = Promise.resolve();
let inits = 0;        // init messages received and not finished (a qsample waits for them)
const stopBeforeStart = new Set(); // ids of runs stopped while still queued

// A macrotask that is not clamped like setTimeout(0): lets a pending 'stop' message run between two steps.
const tick = new MessageChannel();
const tickWaiters = [];
tick.port1.onmessage = () => { const r = tickWaiters.shift(); if (r) r(); };
function yieldToEvents() {
  return new Promise((resolve) => { tickWaiters.push(resolve); tick.port2.postMessage(0); });
}

/* Floats in [-1, 1] -> bytes, as ddpm_to_u8 (the engine's own mapping; NaN shows as black). */
const bytesOf = (src) => Uint8Array.from(src, toU8);

function errorInfo(e) {
  return {
    code: (e && e.code) || (e && e.name) || 'ERROR',
    message: (e && e.message) || String(e),
  };
}

/** Instantiates the engine once and registers the plugins; resolves false (after reporting) when it cannot start. */
async function startEngine(wasm) {
  if (engine) return true;
  try {
    const ddpm = await ddpmImport;
    // the threaded module where the page is cross-origin isolated (else the plain one, given by the page)
    engine = await ddpm.Engine.load(wasm, { threads: self.crossOriginIsolated === true });
  } catch (e) {
    engine = null;
    postMessage({ type: 'error', id: null, stage: 'engine', ...errorInfo(e) });
    return false;
  }
  return true;
}

/* Imports and registers the sampler plugins of these URLs not yet registered here. */
async function registerPlugins(urls = []) {
  for (const url of urls) {
    if (registered.has(url)) continue;
    const mod = await import(url);
    const plugin = mod.default ?? mod.plugin;
    if (!plugin) throw Object.assign(new Error(`${url} has no default export (a sampler plugin)`), { code: 'PLUGIN' });
    engine.registerSampler(plugin);
    registered.add(url);
  }
}

async function init(msg) {
  const t0 = performance.now();
  if (!(await startEngine(msg.wasm))) return;
  try {
    await registerPlugins(msg.plugins);
  } catch (e) {
    postMessage({ type: 'error', id: null, stage: 'plugin', ...errorInfo(e) });
    return;
  }
  if (model) { model.dispose(); model = null; }
  try {
    model = await engine.loadModel(msg.model, msg.loadOptions ?? {});
  } catch (e) {
    postMessage({ type: 'error', id: null, stage: 'model', ...errorInfo(e) });
    return;
  }
  let threadsNote = engine.threadsUnavailable;
  if ((msg.threads ?? 1) > 1 && engine.threadsSupported && model.config.flops >= THREADS_AUTO_MIN_FLOPS) {
    try {
      await model.setThreads(Math.min(64, msg.threads));
    } catch (e) {
      threadsNote = errorInfo(e).message; // one thread, and why
    }
  }
  postMessage({
    type: 'ready',
    version: engine.version,
    config: model.config,
    samplers: engine.samplers(),
    ms: performance.now() - t0,
    threads: model.threads,
    threadsUnavailable: threadsNote,
  });
}

async function run(msg) {
  if (stopBeforeStart.delete(msg.id)) {
    postMessage({ type: 'stopped', id: msg.id, lastStep: 0 });
    return;
  }
  const ctl = { id: msg.id, stop: false, abort: new AbortController() };
  current = ctl;
  const t0 = performance.now();
  let lastStep = 0;
  let it = null;
  try {
    if (!model) throw Object.assign(new Error('no model loaded'), { code: 'STATE' });
    it = model.steps({ ...msg.opts, signal: ctl.abort.signal });
    it.result.catch(() => {}); // observed below; silence the unhandled-rejection path when stopping
    for await (const s of it) {
      lastStep = s.step;
      const x = msg.float ? s.x : bytesOf(s.x);
      const x0 = msg.float ? s.x0 : bytesOf(s.x0);
      postMessage({ type: 'step', id: ctl.id, step: s.step, numSteps: s.numSteps, t: s.t, x, x0 },
                  [x.buffer, x0.buffer]);
      // Let a 'stop' message in before the next step starts.
      await yieldToEvents();
      if (ctl.stop) break; // ends the iterator, which aborts the run
    }
    if (ctl.stop) {
      postMessage({ type: 'stopped', id: ctl.id, lastStep });
      return;
    }
    const res = await it.result;
    const bytes = res.bytes();
    const done = { type: 'done', id: ctl.id, bytes, lastStep, ms: performance.now() - t0 };
    if (msg.float) done.images = res.images;
    postMessage(done, msg.float ? [bytes.buffer, res.images.buffer] : [bytes.buffer]);
  } catch (e) {
    if (ctl.stop || (e && e.code === 'ABORTED')) postMessage({ type: 'stopped', id: ctl.id, lastStep });
    else postMessage({ type: 'error', id: ctl.id, ...errorInfo(e) });
  } finally {
    if (current === ctl) current = null;
  }
}

/* Answers a request on the loaded model: {type:'reply', rid, ...fn(model)} (transferring `transfer(result)`), or its error. */
function reply(msg, fn, transfer = () => []) {
  try {
    if (!model) throw Object.assign(new Error('no model loaded'), { code: 'STATE' });
    const r = fn(model);
    postMessage({ type: 'reply', rid: msg.rid, ...r }, transfer(r));
  } catch (e) {
    postMessage({ type: 'reply', rid: msg.rid, error: errorInfo(e) });
  }
}
const schedule = (msg) => reply(msg, (m) => ({ schedule: m.schedule() }));
const qSample = (msg) => reply(msg, (m) => m.qSample(msg.x0, msg.t, { seed: msg.seed, image: msg.image }),
  (r) => [r.xt.buffer, r.eps.buffer]);

self.onmessage = (ev) => {
  const msg = ev.data;
  switch (msg.type) {
    // init and run wait for each other (a run sent right after an init uses that model); stop does not wait.
    case 'engine': chain = chain.then(() => startEngine(msg.wasm)).then(() => {}); break;
    case 'init': inits++; chain = chain.then(() => init(msg)).finally(() => { inits--; }); break;
    // answered between two steps of a run (the model stays loaded while it runs); after a pending init otherwise
    case 'qsample': if (model && !inits) qSample(msg); else chain = chain.then(() => qSample(msg)); break;
    case 'schedule': if (model && !inits) schedule(msg); else chain = chain.then(() => schedule(msg)); break;
    case 'run': chain = chain.then(() => run(msg)); break;
    case 'stop':
      if (current && (msg.id == null || msg.id === current.id)) {
        current.stop = true;
        current.abort.abort();
      } else if (msg.id != null) stopBeforeStart.add(msg.id);
      break;
    default:
      postMessage({ type: 'error', id: msg.id ?? null, code: 'PROTOCOL', message: `unknown message ${msg.type}` });
  }
};

// Catch-all so a failure never leaves the page waiting silently.
self.addEventListener('unhandledrejection', (ev) => {
  postMessage({ type: 'error', id: current ? current.id : null, ...errorInfo(ev.reason) });
});

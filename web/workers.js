/**
 * workers.js — the engine in Web Workers, with the interface of the in-thread Engine/Model (the package's
 * `ddpm-wasm/worker` entry). The page stays responsive while a pool of workers samples; a batch is split over the
 * workers (contiguous parts, each with its own firstImage), and because image k's noise depends on
 * (seed, firstImage + k) alone the assembled batch equals one engine's batch bit for bit.
 *
 *   import { createWorkerEngine } from 'ddpm-wasm/worker';
 *   const engine = await createWorkerEngine({ workers: navigator.hardwareConcurrency });
 *   await engine.registerSampler(new URL('./my-sampler.js', import.meta.url));   // once: reaches every worker
 *   const model = await engine.loadModel('hf:google/ddpm-cifar10-32');           // downloaded once, here
 *   for await (const s of model.steps({ seed: 1, batch: 8, sampler: 'my_sampler', signal })) draw(s.rgba('x0'));
 *   const { images } = await model.sample({ seed: 1, batch: 8 });
 *
 * One model at a time: loadModel() replaces the workers' model (an older WorkerModel then throws 'STATE').
 * Messages between the page and worker.js are described at the top of worker.js; pool.js owns the workers.
 * Browsers only (Web Workers); in Node use the in-thread Engine of ddpm.js.
 */

import { DdpmError, fail } from './errors.js';
import { resolveModel } from './hub.js';
import { runToEnd } from './lib/common.js';
import { toRGBA, toU8 } from './lib/pixels.js';
import { PoolError, WorkerPool } from './pool.js';

const codeOf = (e) => (e instanceof PoolError ? (e.code === 'WORKER' ? 'STATE' : e.code) : e.code) || 'STATE';
// a worker's error as a DdpmError; `stage` says where it failed: 'engine' | 'plugin' | 'model' | 'run' | 'request'
const asDdpmError = (e) => (e instanceof DdpmError ? e
  : Object.assign(new DdpmError(codeOf(e), e.message, { cause: e }), e.stage ? { stage: e.stage } : {}));

/** Starts `workers` Web Workers, each with its own engine. opts.wasm: the module (URL, bytes, Response, a
 * compiled WebAssembly.Module, or a promise of one of these; default: the package's ddpm.wasm), compiled once here
 * and shared. The workers start (and fetch their scripts) while the module is fetched and compiled. */
export async function createWorkerEngine(opts = {}) {
  const n = opts.workers ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 256) fail('INVALID_ARGUMENT', `workers must be an integer in 1..256, got ${String(n)}`);
  if (typeof Worker === 'undefined') fail('UNSUPPORTED', 'createWorkerEngine needs Web Workers (use Engine from ddpm.js here)');
  const pool = new WorkerPool(opts.workerUrl ?? new URL('./worker.js', import.meta.url), n);
  pool.warm();
  let module, src;
  try {
    src = (await opts.wasm) ?? new URL('./dist/ddpm.wasm', import.meta.url); // a promise's failure is the caller's own
    module = src instanceof WebAssembly.Module ? src : await WebAssembly.compile(await wasmBytes(src));
  } catch (e) {
    pool.terminate();
    throw e instanceof DdpmError || src === undefined ? e
      : new DdpmError('UNSUPPORTED', `cannot compile ddpm.wasm: ${e.message}`, { cause: e });
  }
  pool.startEngine(module);
  return new WorkerEngine(pool, module);
}

async function wasmBytes(src) {
  if (src instanceof ArrayBuffer || ArrayBuffer.isView(src)) return src;
  const res = typeof Response !== 'undefined' && src instanceof Response ? src : await fetch(src);
  if (!res.ok) fail('IO', `cannot fetch ${res.url || String(src)}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

export class WorkerEngine {
  constructor(pool, module) {
    this._pool = pool;
    this._module = module;
    this._model = null;
    this._samplers = null;
    this._disposed = false;
  }

  _live() {
    if (this._disposed) fail('STATE', 'the worker engine is disposed');
  }

  /** The number of workers. */
  get workers() { return this._pool.size; }

  /** The engine's version (ddpm_version()), once a model is loaded; else null. */
  get version() { return this._pool.info?.version ?? null; }

  /** A run is in progress on the workers. */
  get busy() { return this._pool.active !== null; }

  /** Changes the number of workers (new ones get the current model and plugins). */
  async resize(n) {
    this._live();
    if (!Number.isInteger(n) || n < 1 || n > 256) fail('INVALID_ARGUMENT', `workers must be an integer in 1..256, got ${String(n)}`);
    await this._pool.resize(n);
  }

  /** Every registered sampler (as Engine.samplers()); needs a loaded model (the workers report them). */
  samplers() {
    this._live();
    if (!this._samplers) fail('STATE', 'load a model first: the workers list their samplers when it is loaded');
    return this._samplers;
  }

  /** Registers a JS sampler plugin in every worker, now and in workers started later: `url` is an ES module whose
   * default export is the plugin (a JsSamplerPlugin). Resolves when every worker has it (with a model loaded, the
   * workers reload it; before, it waits for loadModel). */
  async registerSampler(url) {
    this._live();
    const href = new URL(String(url), globalThis.location?.href).href;
    if (!this._pool.plugins.includes(href)) this._pool.plugins = [...this._pool.plugins, href];
    if (this._pool.modelBytes) await this._reload();
  }

  async _reload() {
    try {
      const info = await this._pool.load(this._module, this._pool.modelBytes, { loadOptions: this._pool.loadOptions });
      this._samplers = info.samplers;
      return info;
    } catch (e) {
      throw asDdpmError(e);
    }
  }

  /** Loads a model into every worker (see Engine.loadModel for the sources and options: the download happens once,
   * here; the workers parse their own copy). Replaces the previous model. */
  async loadModel(src, opts = {}) {
    this._live();
    const r = await resolveModel(src, opts);
    const bytes = r.config || r.scheduler ? { weights: r.weights, config: r.config, scheduler: r.scheduler } : r.weights;
    if (this._model) this._model._ptr = null;
    this._pool.modelBytes = bytes;
    this._pool.loadOptions = { quantize: opts.quantize, winograd: opts.winograd, compact: opts.compact };
    let info;
    try {
      info = await this._reload();
    } catch (e) {
      if (!r.where || !(e instanceof DdpmError)) throw e;
      throw new DdpmError(e.code, `${r.where}: ${e.message}`, { cause: e });
    }
    this._model = new WorkerModel(this, info);
    return this._model;
  }

  /** Ends every worker. */
  dispose() {
    if (this._disposed) return;
    this._pool.terminate();
    this._disposed = true;
  }
}

/** The workers' model: config, sample() and steps() as Model's (every option, signal and onStep included). */
export class WorkerModel {
  constructor(engine, info) {
    this._e = engine;
    this._ptr = true; // cleared when another model replaces this one
    this.config = info.config;
    /** Threads each worker splits one image across (more than 1 for models of 2 GFLOP or more on a cross-origin
     * isolated page), and why not where it is 1 while the workers could have more (or null). */
    this.threads = info.threads ?? 1;
    this.threadsUnavailable = info.threadsUnavailable ?? null;
  }

  /** Model.schedule(), from the first worker. */
  async schedule() {
    this._live();
    try {
      return (await this._e._pool.request({ type: 'schedule' })).schedule;
    } catch (e) {
      throw asDdpmError(e);
    }
  }

  /** Model.qSample in the first worker (answered between two steps when a run is in progress). */
  async qSample(x0, t, opts = {}) {
    this._live();
    if (!(x0 instanceof Float32Array)) fail('INVALID_ARGUMENT', 'qSample: x0 must be a Float32Array');
    try {
      const r = await this._e._pool.request({ type: 'qsample', x0, t, seed: opts.seed ?? 0, image: opts.image ?? 0 });
      return { xt: r.xt, eps: r.eps };
    } catch (e) {
      throw asDdpmError(e);
    }
  }

  _live() {
    this._e._live();
    if (!this._ptr) fail('STATE', 'the model is disposed (another model was loaded)');
  }

  sample(opts) {
    return runToEnd(this._iterate(opts, false));
  }

  steps(opts) {
    return this._iterate(opts, true);
  }

  /* One pool run as an async iterator of StepInfo, with `result`. */
  _iterate(opts, yieldSteps) {
    const model = this;
    let resolve, reject;
    const result = new Promise((res, rej) => { resolve = res; reject = rej; });
    result.catch(() => {});
    async function* run() {
      model._live();
      if (opts === null || typeof opts !== 'object') fail('INVALID_ARGUMENT', 'sample options must be an object');
      const { signal, onStep, ...rest } = opts;
      if (onStep != null && typeof onStep !== 'function') fail('INVALID_ARGUMENT', 'onStep must be a function');
      if (signal?.aborted) fail('ABORTED', 'aborted');
      const c = model.config, n = rest.batch ?? 1, C = c.inChannels, S = c.imageSize;
      const pool = model._e._pool, queue = [];
      let wake = null, stoppedBy = null;
      const push = (v) => { queue.push(v); if (wake) { wake(); wake = null; } };
      const onAbort = () => { stoppedBy = 'aborted'; pool.stop(); };
      signal?.addEventListener('abort', onAbort);
      // A step is reported once every worker has taken it, assembled from each worker's own frame of that step
      // (a faster worker's later frames wait in `pending`), so step k's x is the batch at step k exactly.
      const D = C * S * S, pending = new Map(); // step -> {x, x0, t, parts}
      const done = pool.run(rest, (f) => {
        let p = pending.get(f.partStep);
        if (!p) pending.set(f.partStep, p = { x: new Float32Array(n * D), x0: new Float32Array(n * D), t: f.t, parts: 0 });
        p.x.set(f.partX, f.part.start * D);
        p.x0.set(f.partX0, f.part.start * D);
        if (++p.parts < f.parts) return;
        pending.delete(f.partStep);
        push({ step: f.partStep, numSteps: f.numSteps, t: p.t, x: p.x, x0: p.x0 });
      }, { float: true }).then((r) => push({ end: r }), (e) => push({ error: e }));
      let finished = false;
      try {
        for (;;) {
          if (!queue.length) await new Promise((r) => { wake = r; });
          const m = queue.shift();
          if (m.error) throw asDdpmError(m.error);
          if (m.end) {
            finished = true;
            const stats = { ms: m.end.ms, split: m.end.split, lastStep: m.end.lastStep };
            if (m.end.stopped) {
              throw Object.assign(new DdpmError('ABORTED', stoppedBy === 'aborted' ? 'aborted' : 'the run was stopped'), { stats });
            }
            const images = m.end.images;
            const res = { images, batch: n, channels: C, size: S, bytes: () => Uint8Array.from(images, toU8),
              rgba: (o) => toRGBA(images, n, C, S, o), stats };
            resolve(res);
            return;
          }
          const info = { ...m, rgba: (which = 'x', o) => toRGBA(which === 'x0' ? m.x0 : m.x, n, C, S, o) };
          if (onStep && onStep(info) === false) { stoppedBy = 'onStep'; pool.stop(); fail('ABORTED', `stopped by onStep at step ${info.step}`); }
          if (yieldSteps) yield info;
        }
      } catch (e) {
        reject(e);
        throw e;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (!finished) { pool.stop(); await done; }
        reject(new DdpmError('ABORTED', 'the iteration was stopped before the run finished'));
      }
    }
    const it = run();
    it.result = result;
    return it;
  }
}

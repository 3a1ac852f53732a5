/*
 * model.js — a loaded U-Net (Model): its config, one forward pass, sampling runs, export. iterateRun() is the run
 * loop every kind of model shares (a loaded one, or a JS model plugin: net-model.js).
 */

import { DdpmError, fail } from '../errors.js';
import { INTERNAL, isInt, macrotask, NOISE, runToEnd, ST_INVALID, STATUS_CODES, THREADS_AUTO_MIN_FLOPS } from './common.js';
import { Job } from './job.js';
import { ModelThreads, hardwareThreads } from './threads.js';

export class Model {
  constructor(token, engine, ptr) {
    if (token !== INTERNAL) fail('INVALID_ARGUMENT', 'use engine.loadModel()');
    this._e = engine;
    this._ptr = ptr;
    this._jobs = new Set();
    this._threads = null; // ModelThreads, once setThreads asked for more than one
    this.config = this._readConfig();
  }

  /* The config: the module's JSON of named fields (src/wasm/config_json.c), the metadata and the config texts. */
  _readConfig() {
    const e = this._e, x = e._x;
    const jp = x.ddpm_wasm_model_config_json(this._ptr);
    if (!jp) fail('OUT_OF_MEMORY', 'out of memory reading the model config');
    let config;
    try {
      config = JSON.parse(e._str(jp));
    } finally {
      x.free(jp);
    }
    const metadata = {};
    for (let i = 0, n = x.ddpm_model_num_metadata(this._ptr); i < n; i++)
      metadata[e._str(x.ddpm_wasm_model_metadata(this._ptr, i, 0))] = e._str(x.ddpm_wasm_model_metadata(this._ptr, i, 1));
    return {
      ...config,
      metadata,
      unetConfig: e._str(x.ddpm_model_unet_config_json(this._ptr)) || null,
      schedulerConfig: e._str(x.ddpm_model_scheduler_config_json(this._ptr)) || null,
    };
  }

  _live() {
    this._e._live();
    if (!this._ptr) fail('STATE', 'the model is disposed');
  }

  /** One U-Net evaluation: x [n, C, S, S], t per image (or one number), y labels 0..numClasses (numClasses = the
   * null class) or null. Returns the raw output [n, outChannels, S, S]: eps, x0 or v, as config.prediction says. */
  forward(xIn, t, y = null) {
    this._live();
    const c = this.config, e = this._e, X = e._x, per = c.inChannels * c.imageSize * c.imageSize;
    if (!(xIn instanceof Float32Array) || xIn.length === 0 || xIn.length % per !== 0)
      fail('INVALID_ARGUMENT', `forward: x must be a Float32Array of n * ${per} floats`);
    const n = xIn.length / per, nout = n * c.outChannels * c.imageSize * c.imageSize;
    const tv = typeof t === 'number' ? new Float32Array(n).fill(t) : Float32Array.from(t ?? []);
    if (tv.length !== n) fail('INVALID_ARGUMENT', `forward: t must be a number or ${n} numbers`);
    let yv = null;
    if (y != null) {
      yv = Int32Array.from(y);
      if (yv.length !== n || Array.from(y).some((v) => !isInt(v)))
        fail('INVALID_ARGUMENT', `forward: y must be ${n} integer labels`);
    }
    const ptrs = [];
    try {
      const xp = e._putF32(xIn); ptrs.push(xp);
      const tp = e._putF32(tv); ptrs.push(tp);
      let yp = 0;
      if (yv) { yp = e._malloc(4 * n); ptrs.push(yp); e._i32(yp, n).set(yv); }
      const op = e._malloc(4 * nout); ptrs.push(op);
      const st = X.ddpm_model_forward(this._ptr, n, xp, tp, yp, op, e._err);
      if (st !== 0) throw e._error(st);
      return e._f32(op, nout).slice();
    } finally {
      for (const p of ptrs) X.free(p);
    }
  }

  /** Where the model's resident memory goes (ddpm_model_memory): { weightBytes, compactBytes, winogradBytes,
   * winogradConvs, winogradPrecomputed, compact } — the sum of the bytes is what loadModel's memoryBudget bounds. */
  memory() {
    this._live();
    const e = this._e, X = e._x, p = e._malloc(6 * 8);
    try {
      const st = X.ddpm_wasm_model_memory(this._ptr, p);
      if (st !== 0) fail(STATUS_CODES[st] ?? 'STATE', 'memory(): ddpm_model_memory failed');
      const v = new Float64Array(e._memory.buffer, p, 6);
      return { weightBytes: v[0], compactBytes: v[1], winogradBytes: v[2], winogradConvs: v[3],
        winogradPrecomputed: v[4], compact: v[5] === 1 };
    } finally {
      X.free(p);
    }
  }

  /** The schedule arrays (float64, length numTimesteps): betas, alphas, alphasCumprod, ... (as SamplerContext's). */
  schedule() {
    this._live();
    return this._e._scheduleArrays(this._e._x.ddpm_model_get_schedule(this._ptr));
  }

  /** The forward process q(x_t | x_0) (the paper's eq. 4): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for images
   * x0 [n, C, S, S] at timestep t (0..numTimesteps-1, the model's own schedule), with image k's eps drawn from the
   * stream (seed, image + k) of NOISE.forward — the noise an image-to-image run of that seed adds to its start
   * image, so a run from x0 starting at t begins at exactly this x_t. Returns { xt, eps } (Float32Arrays). */
  qSample(x0, t, { seed = 0, image = 0 } = {}) {
    this._live();
    const c = this.config, e = this._e, X = e._x, D = c.inChannels * c.imageSize * c.imageSize;
    if (!(x0 instanceof Float32Array) || x0.length === 0 || x0.length % D !== 0)
      fail('INVALID_ARGUMENT', `qSample: x0 must be a Float32Array of n * ${D} floats ([n, ${c.inChannels}, ${c.imageSize}, ${c.imageSize}])`);
    if (!isInt(t) || t < 0 || t >= c.numTimesteps)
      fail('INVALID_ARGUMENT', `qSample: t must be an integer in 0..${c.numTimesteps - 1}, got ${String(t)}`);
    if (!Number.isSafeInteger(seed) || seed < 0) fail('INVALID_ARGUMENT', `qSample: seed must be an integer in 0..2^53-1, got ${String(seed)}`);
    const n = x0.length / D;
    if (!isInt(image) || image < 0 || image + n > 2 ** 32)
      fail('INVALID_ARGUMENT', `qSample: image must be an integer with image + ${n} <= 2^32, got ${String(image)}`);
    if (!x0.every(Number.isFinite)) fail('INVALID_ARGUMENT', 'qSample: x0 holds NaN or infinite values');
    const ptrs = [];
    try {
      const xp = e._putF32(x0); ptrs.push(xp);
      const ep = e._malloc(4 * n * D); ptrs.push(ep);
      const op = e._malloc(4 * n * D); ptrs.push(op);
      const lo = seed % 2 ** 32, hi = Math.floor(seed / 2 ** 32);
      for (let k = 0; k < n; k++) X.ddpm_wasm_rng_normal(lo, hi, image + k, 0, NOISE.forward, ep + 4 * k * D, D);
      const st = X.ddpm_q_sample(X.ddpm_model_get_schedule(this._ptr), t, xp, ep, op, n * D);
      if (st !== 0) fail(STATUS_CODES[st] ?? 'STATE', `qSample: ddpm_q_sample failed (${STATUS_CODES[st]})`);
      return { xt: e._f32(op, n * D).slice(), eps: e._f32(ep, n * D).slice() };
    } finally {
      for (const p of ptrs) X.free(p);
    }
  }

  /** The older name of forward() (it returns the model's raw output, which is eps only for eps-prediction models). */
  eps(xIn, t, y = null) {
    return this.forward(xIn, t, y);
  }

  /** Which kernels the forward pass uses: 'simd' (default, fast), 'scalar' (the plain reference) or 'precise'
   * (double sums: for reproducing another engine's long deterministic runs, e.g. a DDIM replay; slowest). */
  setKernels(kind) {
    this._live();
    const k = { simd: 0, scalar: 1, precise: 2 }[kind];
    if (k === undefined) fail('INVALID_ARGUMENT', `setKernels: expected simd, scalar or precise, got ${String(kind)}`);
    this._e._x.ddpm_model_set_kernels(this._ptr, k);
  }

  /** Threads for each forward pass (the same bits for any count): n = 1 .. 64, or 0 for every processor when the
   * model has at least 2 GFLOP per evaluation (else 1, as natively). Needs an engine loaded with { threads: true }
   * where threads are available (engine.threadsSupported; else UNSUPPORTED with engine.threadsUnavailable);
   * n - 1 workers are started and the promise resolves once they run. opts.workerUrl: where thread-worker.js is
   * served, if not next to this module (bundlers). Runs must not be in flight while the count changes. */
  async setThreads(n, opts = {}) {
    this._live();
    if (!isInt(n) || n < 0 || n > 64)
      fail('INVALID_ARGUMENT', `setThreads: threads must be an integer 0..64 (0: automatic), got ${String(n)}`);
    if (this._jobs.size) fail('BUSY', 'setThreads: a run is in flight on this model');
    if (n === 0) n = this.config.flops >= THREADS_AUTO_MIN_FLOPS ? Math.min(64, await hardwareThreads()) : 1;
    if (n > 1 && !this._e.threadsSupported) fail('UNSUPPORTED', `setThreads(${n}): ${this._e.threadsUnavailable}`);
    if (!this._threads) {
      if (n <= 1) return this._e._x.ddpm_model_set_threads(this._ptr, 1, this._e._err), undefined;
      this._threads = new ModelThreads(this._e, this);
    }
    await this._threads.set(n, opts.workerUrl);
  }

  /* Tests: the smallest operation (flops) the threads split; 0 splits every one (the same bits either way). */
  _setThreadMinWork(flops) { this._e._x.ddpm_model_set_thread_min_work(this._ptr, flops); }

  /** The thread count in use. */
  get threads() { return this._ptr ? this._e._x.ddpm_model_threads(this._ptr) : 1; }

  /** The model as one safetensors file (Uint8Array) in 'f32', 'f16' or 'i8' (`ddpm convert`): a diffusers model's
   * file carries its config.json and scheduler_config.json and loads alone as the same model. */
  export(dtype = 'f32') {
    this._live();
    const D = { f32: 0, f16: 1, i8: 2 }[dtype];
    if (D === undefined) fail('INVALID_ARGUMENT', `export: dtype must be f32, f16 or i8, got ${String(dtype)}`);
    const e = this._e, X = e._x, sp = e._malloc(4);
    try {
      const buf = X.ddpm_wasm_model_export(this._ptr, D, sp, e._err);
      if (!buf) throw e._error(ST_INVALID);
      try {
        return e._u8(buf, e._i32(sp, 1)[0] >>> 0).slice();
      } finally {
        X.free(buf);
      }
    } finally {
      X.free(sp);
    }
  }

  /** Samples a whole batch; resolves with the final images. */
  sample(opts) {
    return runToEnd(this._iterate(opts, false));
  }

  /** The reverse process step by step (one StepInfo after every `every`-th step and the last); `result` resolves
   * when it finishes. Breaking out of the loop aborts the run and frees it. */
  steps(opts) {
    return this._iterate(opts, true);
  }

  _iterate(opts, yieldSteps) {
    return iterateRun(this, opts, yieldSteps);
  }

  /* For Job: the C run's target (a ddpm_model) and the scratch one forward pass of n images needs. */
  _target() { return { model: this._ptr, denoiser: 0 }; }
  _workspaceBytes(n) { return this._e._x.ddpm_model_workspace_bytes(this._ptr, n) >>> 0; }

  /** Frees the model and any run still using it (their iterations end with code 'ABORTED'). */
  dispose() {
    if (!this._ptr) return;
    for (const j of [...this._jobs]) j.free('the model was disposed');
    const ptr = this._ptr, th = this._threads, X = this._e._x;
    this._ptr = 0;
    this._e._models.delete(this);
    if (!th) {
      X.ddpm_model_free(ptr);
      return;
    }
    // the pool's workers must be inside their loop before the C side frees it (a setThreads may be starting them)
    const free = () => { X.ddpm_model_free(ptr); return th._stopWorkers(); };
    this.closed = th._busy ? th.settle().then(free) : free();
  }
}

/** The async iterator of a run (steps() / sample()): one StepInfo after every `every`-th step and the last; its
 * `result` promise settles when the run ends. */
export function iterateRun(model, opts, yieldSteps) {
  let resolve, reject, settled = false;
  const result = new Promise((res, rej) => { resolve = res; reject = rej; });
  result.catch(() => {}); // callers that only iterate must not see an unhandled rejection
  const settle = (err, value) => {
    if (settled) return;
    settled = true;
    if (err) reject(err);
    else resolve(value);
  };
  async function* run() {
    let job = null;
    try {
      job = new Job(model, opts);
      while (!job.done()) {
        await macrotask();
        job.checkAbort();
        job.step();
        if ((yieldSteps || job.onStep) && job.reportNow()) {
          const info = job.info();
          if (job.onStep && job.onStep(info) === false) fail('ABORTED', `stopped by onStep at step ${info.step}`);
          if (yieldSteps) yield info;
        }
      }
      settle(null, job.result());
    } catch (e) {
      settle(e);
      throw e;
    } finally {
      if (job) job.free();
      settle(new DdpmError('ABORTED', 'the iteration was stopped before the run finished'));
    }
  }
  const it = run();
  it.result = result;
  return it;
}

/*
 * net-model.js — model plugins: any network evaluated in JS (a test model, an onnxruntime-web session run
 * synchronously, a hand-written function) sampled by the engine's samplers, built-in or JS.
 *
 *     const net = engine.wrapModel({
 *       denoise(x, t, labels) { ... return out; },   // x: Float32Array [n, C, S, S]; t: Float32Array [n];
 *                                                    // labels: Int32Array [n] (-1 = null class) or null
 *       channels: 3, size: 8, prediction: 'eps',
 *       schedule: 'linear', numTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02,   // or betas: [...]
 *     });
 *     const { images } = await net.sample({ sampler: 'ddim', steps: 50, seed: 1 });
 *
 * The C side (src/wasm/js_plugins.c) holds a ddpm_denoiser whose eval calls env.ddpm_js_denoise(id, ...), which
 * lands in NetModel._eval below; runs go through ddpm_run_create_with like any denoiser. denoise() must be
 * synchronous: it runs inside a sampler step. An asynchronous network (WebGPU) awaits its output between steps
 * instead: with a sampler of one evaluation per step (ddpm, ddim, dpmpp_2m, unipc, ...) step i evaluates the run's
 * current x at timesteps[i], so iterate run.steps({ every: 1 }), await the network on info.x at the next
 * timestep, and let denoise() return that prepared output (the engine's test does exactly this).
 */

import { fail } from '../errors.js';
import { INTERNAL, isInt, MAX_CHANNELS, MAX_IMAGE_SIZE, MAX_TIMESTEPS, PREDICTIONS, runToEnd, SCHEDULE_CUSTOM, SCHEDULES, SPACINGS,
  ST_INVALID } from './common.js';
import { iterateRun } from './model.js';
import { pluginError } from './sampler-plugins.js';

export class NetModel {
  constructor(token, engine, net, id) {
    if (token !== INTERNAL) fail('INVALID_ARGUMENT', 'use engine.wrapModel()');
    if (net === null || typeof net !== 'object') fail('INVALID_ARGUMENT', 'wrapModel: the model must be an object');
    if (typeof net.denoise !== 'function') fail('INVALID_ARGUMENT', 'wrapModel: the model needs a denoise(x, t, labels) function');
    const name = typeof net.name === 'string' ? net.name : 'model';
    const int = (v, what, lo, hi) => {
      if (!isInt(v) || v < lo || v > hi) fail('INVALID_ARGUMENT', `wrapModel: ${what} must be an integer in ${lo}..${hi}, got ${String(v)}`);
      return v;
    };
    const C = int(net.channels, 'channels', 1, MAX_CHANNELS), S = int(net.size, 'size', 1, MAX_IMAGE_SIZE);
    const numClasses = int(net.numClasses ?? 0, 'numClasses', 0, 1 << 20);
    const nullClass = net.nullClass ?? true;
    const prediction = PREDICTIONS.indexOf(net.prediction ?? 'eps');
    if (prediction < 0) fail('INVALID_ARGUMENT', `wrapModel: prediction must be one of ${PREDICTIONS.join(', ')}, got ${String(net.prediction)}`);

    // the schedule: betas, or a named one
    let kind, T, betas = null;
    if (net.betas != null) {
      betas = Float64Array.from(net.betas);
      T = int(betas.length, 'betas.length', 1, MAX_TIMESTEPS);
      if (net.numTimesteps != null && net.numTimesteps !== T)
        fail('INVALID_ARGUMENT', `wrapModel: numTimesteps ${net.numTimesteps} differs from the ${T} betas`);
      kind = SCHEDULE_CUSTOM;
    } else {
      kind = SCHEDULES.indexOf(net.schedule ?? 'linear');
      if (kind < 0) fail('INVALID_ARGUMENT', `wrapModel: schedule must be one of ${SCHEDULES.join(', ')} (or give betas), got ${String(net.schedule)}`);
      T = int(net.numTimesteps ?? 1000, 'numTimesteps', 1, MAX_TIMESTEPS);
    }
    const d = net.defaults ?? {};
    if (d.spacing != null && SPACINGS[d.spacing] === undefined)
      fail('INVALID_ARGUMENT', `wrapModel: defaults.spacing must be leading, trailing or linspace, got ${String(d.spacing)}`);

    this._e = engine;
    this._id = id;
    this._net = net;
    this._name = name;
    this._jobs = new Set();
    const X = engine._x, temps = [];
    try {
      let bp = 0;
      if (betas) { bp = engine._malloc(8 * T); temps.push(bp); engine._f64(bp, T).set(betas); }
      this._ptr = X.ddpm_wasm_js_model_new(id, kind, T, net.betaStart ?? 1e-4, net.betaEnd ?? 0.02,
        net.rescaleZeroSnr ? 1 : 0, net.float32 ? 1 : 0, bp, prediction, C, S, numClasses,
        numClasses > 0 && !nullClass ? 1 : 0, engine._err);
      if (!this._ptr) throw engine._error(ST_INVALID);
    } finally {
      for (const p of temps) X.free(p);
    }
    this.config = {
      format: 'js', inChannels: C, outChannels: C, imageSize: S, numClasses, nullClass: numClasses > 0 && !!nullClass,
      prediction: PREDICTIONS[prediction], schedule: betas ? 'custom' : SCHEDULES[kind], numTimesteps: T,
      defaults: { sampler: d.sampler ?? 'ddpm', spacing: d.spacing ?? 'leading', stepsOffset: d.stepsOffset ?? 0,
        samplerOptions: {} },
    };
    this._D = C * S * S;
  }

  _live() {
    this._e._live();
    if (!this._ptr) fail('STATE', 'the model is disposed');
  }

  /** The schedule the engine built: its arrays by name, each numTimesteps doubles (betas, alphasCumprod, ...). */
  schedule() {
    this._live();
    return this._e._scheduleArrays(this._e._x.ddpm_wasm_js_model_schedule(this._ptr));
  }

  sample(opts) {
    return runToEnd(iterateRun(this, opts, false));
  }

  steps(opts) {
    return iterateRun(this, opts, true);
  }

  /** Frees the C side (and any run still using it). */
  dispose() {
    if (!this._ptr) return;
    for (const j of [...this._jobs]) j.free('the model was disposed');
    this._e._x.ddpm_wasm_js_model_free(this._ptr);
    this._ptr = 0;
    this._e._nets.delete(this._id);
  }

  /* For Job. */
  _target() { return { model: 0, denoiser: this._ptr }; }
  _workspaceBytes() { return 1; } // the network's own memory is its business

  /* env.ddpm_js_denoise: out = denoise(x, t, labels) for n images; labels arrive with num_classes as the null class. */
  _eval(n, xPtr, tPtr, yPtr, outPtr) {
    const e = this._e, nd = n * this._D;
    try {
      const x = e._f32(xPtr, nd).slice(), t = e._f32(tPtr, n).slice();
      let labels = null;
      if (yPtr) labels = e._i32(yPtr, n).map((y) => (y === this.config.numClasses ? -1 : y));
      const out = this._net.denoise(x, t, labels);
      if (out && typeof out.then === 'function')
        fail('INVALID_ARGUMENT', 'denoise() returned a Promise: it must be synchronous (see net-model.js for asynchronous networks)');
      if (!out || out.length !== nd) fail('SHAPE', `denoise() must return ${nd} numbers ([${n}, ${this.config.inChannels}, ${this.config.imageSize}, ${this.config.imageSize}]), got ${out?.length}`);
      e._f32(outPtr, nd).set(out);
      return 0;
    } catch (err) {
      e._pending = pluginError(this._name, 'denoise', err, 'JS model');
      return ST_INVALID;
    }
  }
}

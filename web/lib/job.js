/*
 * job.js — one sampling run: the options checked and converted, the C run created, stepped and freed. `model` is a
 * Model or a JS model plugin (net-model.js): anything with _e, _live(), config, _jobs, _target() and
 * _workspaceBytes(n).
 */

import { DdpmError, fail } from '../errors.js';
import { HEAP_LIMIT, isInt, MAX_BATCH, SPACINGS, ST_INVALID } from './common.js';
import { initImage, toRGBA, toU8 } from './pixels.js';

/* The CLI's grid PNG (`ddpm sample --out`, --scale) of images [n, C, S, S], encoded in the module by the CLI's own
 * writer (ddpm_wasm_grid_png: src/image/grid_png.c, stb_image_write), so the bytes are the CLI file's. Needs only the
 * engine: the floats are copied in, so it works after the run (or the model) is freed. */
function gridPng(e, images, n, C, S, opts) {
  e._live();
  const scale = (opts ?? {}).scale ?? 1;
  if (!isInt(scale) || scale < 1 || scale > 32) fail('INVALID_ARGUMENT', `png: scale must be an integer in 1..32 (the CLI's --scale), got ${String(scale)}`);
  const X = e._x, ip = e._putF32(images);
  let lp = 0;
  try {
    lp = e._malloc(4); // size_t
    const buf = X.ddpm_wasm_grid_png(ip, n, C, S, scale, lp, e._err);
    if (!buf) throw e._error(ST_INVALID);
    try {
      return e._u8(buf, e._i32(lp, 1)[0] >>> 0).slice();
    } finally {
      X.free(buf);
    }
  } finally {
    X.free(ip);
    if (lp) X.free(lp);
  }
}

export class Job {
  constructor(model, opts) {
    model._live();
    if (opts === null || typeof opts !== 'object') fail('INVALID_ARGUMENT', 'sample options must be an object');
    const e = model._e, X = e._x, c = model.config;
    this.model = model;
    this.e = e;
    const T = c.numTimesteps;
    const { seed } = opts;
    if (!Number.isSafeInteger(seed) || seed < 0)
      fail('INVALID_ARGUMENT', `seed must be an integer in 0..2^53-1, got ${String(seed)}`);
    let timesteps = null;
    if (opts.timesteps != null) {
      if (opts.steps != null) fail('INVALID_ARGUMENT', 'timesteps replaces steps: give one of them');
      timesteps = Int32Array.from(opts.timesteps);
      if (timesteps.length < 1 || timesteps.length > T || Array.from(opts.timesteps).some((v) => !isInt(v)))
        fail('INVALID_ARGUMENT', `timesteps must be 1..${T} integers`);
    }
    const steps = opts.steps ?? (timesteps ? timesteps.length : T);
    if (!isInt(steps) || steps < 1 || steps > T) fail('INVALID_ARGUMENT', `steps must be an integer in 1..${T}, got ${String(steps)}`);
    const deepCache = opts.deepCache ?? 0;
    if (!isInt(deepCache) || deepCache < 0 || deepCache > 1000)
      fail('INVALID_ARGUMENT', `deepCache must be an integer 0..1000 (0 or 1: off), got ${String(deepCache)}`);
    const stepsOffset = opts.stepsOffset ?? c.defaults.stepsOffset;
    if (!isInt(stepsOffset) || stepsOffset < 0 || stepsOffset >= T)
      fail('INVALID_ARGUMENT', `stepsOffset must be an integer in 0..${T - 1}, got ${String(stepsOffset)}`);
    const batch = opts.batch ?? 1;
    if (!isInt(batch) || batch < 1 || batch > MAX_BATCH)
      fail('INVALID_ARGUMENT', `batch must be an integer in 1..${MAX_BATCH}, got ${String(batch)}`);
    const firstImage = opts.firstImage ?? 0;
    if (!isInt(firstImage) || firstImage < 0 || firstImage + batch > 2 ** 32 - 1)
      fail('INVALID_ARGUMENT', `firstImage must be an integer with firstImage + batch < 2^32`);
    const spacing = SPACINGS[opts.spacing ?? c.defaults.spacing];
    if (spacing === undefined) fail('INVALID_ARGUMENT', `spacing must be leading, trailing or linspace, got ${String(opts.spacing)}`);
    // classLabel: one label for the batch, or an array of batch labels (null / -1: the null class)
    const labelOf = (v, where) => {
      const y = v ?? -1;
      if (!isInt(y)) fail('INVALID_ARGUMENT', `${where} must be an integer (or null), got ${String(v)}`);
      if (c.numClasses === 0 && y !== -1) fail('INVALID_ARGUMENT', `${where} = ${y} given to an unconditional model`);
      if (y < -1 || y >= c.numClasses)
        fail('INVALID_ARGUMENT', `${where} = ${y} is outside 0..${c.numClasses - 1} (or null for none)`);
      if (y === -1 && c.numClasses > 0 && !c.nullClass)
        fail('INVALID_ARGUMENT', `this class-conditional model has no null class: give ${where === 'classLabel' ? 'a classLabel' : 'every image a label'}`);
      return y;
    };
    let label = -1, labels = null;
    if (Array.isArray(opts.classLabel) || ArrayBuffer.isView(opts.classLabel)) {
      if (opts.classLabel.length !== (opts.batch ?? 1))
        fail('INVALID_ARGUMENT', `classLabel as an array needs one label per image (${opts.batch ?? 1}), got ${opts.classLabel.length}`);
      labels = Int32Array.from(Array.from(opts.classLabel, (v, k) => labelOf(v, `classLabel[${k}]`)));
    } else {
      label = labelOf(opts.classLabel, 'classLabel');
    }
    const anyLabel = labels ? labels.some((y) => y >= 0) : label >= 0;
    const guidance = opts.guidance ?? 1;
    if (typeof guidance !== 'number' || !Number.isFinite(guidance)) fail('INVALID_ARGUMENT', `guidance must be a finite number, got ${String(guidance)}`);
    if (guidance !== 1 && c.numClasses === 0) fail('INVALID_ARGUMENT', 'guidance needs a class-conditional model');
    if (guidance !== 1 && !anyLabel) fail('INVALID_ARGUMENT', 'guidance needs a class label (the null class is sampled unguided: use guidance 1)');
    const every = opts.every ?? 1;
    if (!isInt(every) || every < 1) fail('INVALID_ARGUMENT', `every must be an integer >= 1, got ${String(every)}`);
    if (opts.onStep != null && typeof opts.onStep !== 'function') fail('INVALID_ARGUMENT', 'onStep must be a function');
    this.onStep = opts.onStep ?? null;
    this.every = every;
    this.signal = opts.signal ?? null;
    this.checkAbort();

    const samplerName = opts.sampler ?? c.defaults.sampler;
    if (typeof samplerName !== 'string') fail('INVALID_ARGUMENT', 'sampler must be a string');
    const info = e.samplers().find((s) => s.name === samplerName);
    if (!info) fail('NOT_FOUND', `no sampler named '${samplerName}' (registered: ${e.samplers().map((s) => s.name).join(', ')})`);
    const optNames = [], optValues = [];
    for (const [name, value] of Object.entries(opts.samplerOptions ?? {})) {
      const o = info.options.find((q) => q.name === name);
      if (!o) fail('INVALID_ARGUMENT', `sampler ${samplerName} has no option '${name}' (it has: ${info.options.map((q) => q.name).join(', ') || 'none'})`);
      let v = value;
      if (typeof v === 'boolean') v = v ? 1 : 0;
      else if (typeof v === 'string' && o.type === 'choice') {
        v = o.choices.indexOf(value);
        if (v < 0) fail('INVALID_ARGUMENT', `option ${name} must be one of ${o.choices.join(', ')}, got '${value}'`);
      }
      if (typeof v !== 'number' || !Number.isFinite(v)) fail('INVALID_ARGUMENT', `option ${name} must be a finite number, got ${String(value)}`);
      optNames.push(name);
      optValues.push(v);
    }

    const D = c.inChannels * c.imageSize * c.imageSize;
    this.n = batch;
    this.C = c.inChannels;
    this.S = c.imageSize;
    this.D = D;
    const replayTensor = (v, what, k) => {
      if (v == null) return null;
      if (!(v instanceof Float32Array) || v.length === 0 || v.length % (D * batch) !== 0 || (k && v.length !== k * D * batch))
        fail('INVALID_ARGUMENT', `${what} must be a Float32Array of ${k ? '' : 'K * '}${D * batch} floats ([${k ? '' : 'K, '}${batch}, ${c.inChannels}, ${c.imageSize}, ${c.imageSize}])`);
      return v;
    };
    const startX = replayTensor(opts.startX, 'startX', 1), noise = replayTensor(opts.noise, 'noise', 0);
    let init = null, strength = 1;
    if (opts.init != null) {
      init = initImage(opts.init, batch, c.inChannels, c.imageSize);
      strength = opts.strength;
      if (typeof strength !== 'number' || !Number.isFinite(strength) || !(strength > 0) || strength > 1)
        fail('INVALID_ARGUMENT', `with init, strength must be a number in (0, 1], got ${String(strength)}`);
    }

    // memory: refuse before allocating what cannot fit in the 2 GiB heap
    const evals = guidance !== 1 ? 2 * batch : batch;
    const ws = model._workspaceBytes(evals);
    const need = ws + 4 * D * batch * 8 + (init ? init.length * 4 : 0) + 4 * ((startX?.length ?? 0) + (noise?.length ?? 0));
    if (!ws)
      fail('TOO_LARGE', `batch ${batch}: this model's forward pass needs more scratch than the 2048 MiB wasm heap can hold`);
    if (need > HEAP_LIMIT - e.memory().inUseBytes)
      fail('TOO_LARGE', `batch ${batch} needs about ${Math.round(need / 2 ** 20)} MiB; the wasm heap holds at most 2048 MiB`);

    const temps = [];
    try {
      const nameP = e._cstr(samplerName); temps.push(nameP);
      const namesP = e._malloc(4 * optNames.length); temps.push(namesP);
      const valsP = e._malloc(8 * optValues.length); temps.push(valsP);
      optNames.forEach((nm, j) => { const p = e._cstr(nm); temps.push(p); e._i32(namesP + 4 * j, 1)[0] = p; });
      e._f64(valsP, optValues.length).set(optValues);
      let initP = 0, tsP = 0, startP = 0, noiseP = 0;
      if (init) { initP = e._putF32(init); temps.push(initP); }
      if (timesteps) { tsP = e._malloc(4 * timesteps.length); temps.push(tsP); e._i32(tsP, timesteps.length).set(timesteps); }
      if (startX) { startP = e._putF32(startX); temps.push(startP); }
      if (noise) { noiseP = e._putF32(noise); temps.push(noiseP); }
      let labelsP = 0;
      if (labels) { labelsP = e._malloc(4 * batch); temps.push(labelsP); e._i32(labelsP, batch).set(labels); }
      const target = model._target();
      const lo = seed % 2 ** 32, hi = Math.floor(seed / 2 ** 32);
      this.ptr = X.ddpm_wasm_run_create(target.model, target.denoiser, nameP, optNames.length, namesP, valsP, steps, spacing, lo, hi,
        batch, firstImage, label, guidance, initP, strength, stepsOffset, tsP, timesteps ? timesteps.length : 0,
        startP, noiseP, noise ? noise.length / (D * batch) : 0, labelsP, deepCache, e._err);
      if (!this.ptr) throw e._error(ST_INVALID);
    } finally {
      for (const p of temps) X.free(p);
    }
    this.numSteps = X.ddpm_run_num_steps(this.ptr);
    this.freedWhy = null;
    model._jobs.add(this);
  }

  checkAbort() {
    if (this.freedWhy) fail('ABORTED', this.freedWhy);
    if (this.signal && this.signal.aborted) {
      const r = this.signal.reason;
      throw new DdpmError('ABORTED', `aborted${r && r.message ? `: ${r.message}` : ''}`, { cause: r });
    }
  }

  done() {
    this.checkAbort();
    return this.e._x.ddpm_run_done(this.ptr) !== 0;
  }

  step() {
    const e = this.e;
    this.t = e._x.ddpm_run_timestep(this.ptr, e._x.ddpm_run_current_step(this.ptr));
    const st = e._x.ddpm_run_step(this.ptr, e._err);
    if (st !== 0) throw e._error(st);
  }

  reportNow() {
    const k = this.e._x.ddpm_run_current_step(this.ptr);
    return k % this.every === 0 || k === this.numSteps;
  }

  info() {
    const e = this.e, X = e._x, nd = this.n * this.D;
    const x = e._f32(X.ddpm_run_x(this.ptr), nd).slice();
    const x0 = e._f32(X.ddpm_run_pred_x0(this.ptr), nd).slice();
    const { n, C, S } = this;
    return {
      step: X.ddpm_run_current_step(this.ptr), numSteps: this.numSteps, t: this.t, x, x0,
      rgba: (which = 'x', o) => toRGBA(which === 'x0' ? x0 : x, n, C, S, o),
    };
  }

  result() {
    const images = this.e._f32(this.e._x.ddpm_run_x(this.ptr), this.n * this.D).slice();
    const { n, C, S } = this;
    return {
      images, batch: n, channels: C, size: S,
      bytes: () => Uint8Array.from(images, toU8),
      rgba: (o) => toRGBA(images, n, C, S, o),
      png: (o) => gridPng(this.e, images, n, C, S, o),
    };
  }

  free(why) {
    if (!this.ptr) return;
    this.e._x.ddpm_run_free(this.ptr);
    this.ptr = 0;
    this.freedWhy = why || 'the run was freed';
    this.model._jobs.delete(this);
  }
}


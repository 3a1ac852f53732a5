/*
 * sampler-plugins.js — samplers written in JS, in the C registry beside the built-ins (src/wasm/js_plugins.c).
 *
 * Each registered plugin has a record in the wasm heap (its handle); the module calls env.ddpm_js_sampler_create /
 * step / destroy with that handle, and the functions here find the JS plugin by it. A JS run's state lives in a map
 * from the id create() returned. Errors thrown inside a plugin become DdpmErrors kept as engine._pending and
 * rethrown when control comes back to JS (the C run only sees a status).
 */

import { DdpmError, fail } from '../errors.js';
import { isInt, OPTION_TYPES, PREDICTIONS, SAMPLER_API_VERSION, ST_INVALID, STATUS_CODES } from './common.js';

export class SamplerPlugins {
  constructor(engine) {
    this._e = engine;
    this._byHandle = new Map(); // plugin record (wasm pointer) -> { plugin, name, options }
    this._runs = new Map();     // JS run state id -> { plugin, ctx, state }
    this._nextRunId = 1;
  }

  /** The imports the module calls. */
  imports() {
    return {
      ddpm_js_sampler_create: (h, ctx) => this._create(h, ctx),
      ddpm_js_sampler_step: (h, id, ctx, i, x) => this._step(h, id, ctx, i, x),
      ddpm_js_sampler_destroy: (h, id) => this._destroy(h, id),
    };
  }

  /** Registers a JS sampler into the C registry (see Engine.registerSampler). */
  register(plugin) {
    const e = this._e, x = e._x;
    if (plugin === null || typeof plugin !== 'object') fail('INVALID_ARGUMENT', 'registerSampler: plugin must be an object');
    if (typeof plugin.name !== 'string') fail('INVALID_ARGUMENT', 'registerSampler: plugin.name must be a string');
    const opts = plugin.options ?? [];
    if (!Array.isArray(opts)) fail('INVALID_ARGUMENT', `sampler ${plugin.name}: options must be an array`);
    const h = x.ddpm_wasm_js_plugin_new(opts.length);
    if (!h) fail('OUT_OF_MEMORY', `sampler ${plugin.name}: out of memory`);
    const temps = [];
    const s = (v) => { const p = e._cstr(v); temps.push(p); return p; };
    let ok = false;
    try {
      // the JS interface is the same in versions 1 and 2 (v2 adds ctx.labels and destroy's ctx): both register as
      // the C API's current version; any other number reaches the registry, which refuses it with VERSION
      let api = typeof plugin.apiVersion === 'number' && plugin.apiVersion >= 0 ? plugin.apiVersion >>> 0 : 0;
      if (api === 1 || api === SAMPLER_API_VERSION) api = SAMPLER_API_VERSION;
      const evals = plugin.evalsPerStep ?? 1;
      if (!isInt(evals) || evals < 1) fail('INVALID_ARGUMENT', `sampler ${plugin.name}: evalsPerStep must be an integer >= 1`);
      if (x.ddpm_wasm_js_sampler_describe(h, api, s(plugin.name), s(plugin.description ?? ''), evals,
        typeof plugin.step === 'function' ? 1 : 0) !== 0)
        fail('OUT_OF_MEMORY', `sampler ${plugin.name}: out of memory`);
      const infos = opts.map((o, j) => this._describeOption(h, j, plugin.name, o, s));
      const st = x.ddpm_wasm_js_sampler_register(h, e._err);
      if (st !== 0) throw e._error(st);
      this._byHandle.set(h, { plugin, name: plugin.name, options: infos });
      ok = true;
    } finally {
      for (const p of temps) x.free(p);
      if (!ok) x.ddpm_wasm_js_plugin_free(h);
    }
  }

  _describeOption(h, j, sampler, o, s) {
    const where = `sampler ${sampler}: option ${j}`;
    if (o === null || typeof o !== 'object' || typeof o.name !== 'string') fail('INVALID_ARGUMENT', `${where} needs a name`);
    const type = OPTION_TYPES.indexOf(o.type);
    if (type < 0) fail('INVALID_ARGUMENT', `${where} (${o.name}): type must be one of ${OPTION_TYPES.join(', ')}`);
    let def = o.default, lo = o.min, hi = o.max, choices = null;
    if (o.type === 'bool') {
      def = def ? 1 : 0; lo = 0; hi = 1;
    } else if (o.type === 'choice') {
      if (!Array.isArray(o.choices) || o.choices.length === 0 || o.choices.some((c) => typeof c !== 'string' || /[\n\0]/.test(c)))
        fail('INVALID_ARGUMENT', `${where} (${o.name}): choices must be a non-empty array of strings`);
      choices = o.choices.slice();
      def = typeof def === 'string' ? choices.indexOf(def) : (def ?? 0);
      lo = 0; hi = choices.length - 1;
    } else {
      def = def ?? 0;
      lo = lo ?? -Infinity;
      hi = hi ?? Infinity;
    }
    if (typeof def !== 'number' || typeof lo !== 'number' || typeof hi !== 'number' || Number.isNaN(def) ||
        Number.isNaN(lo) || Number.isNaN(hi))
      fail('INVALID_ARGUMENT', `${where} (${o.name}): default, min and max must be numbers`);
    const st = this._e._x.ddpm_wasm_js_sampler_option(h, j, s(o.name), type, def, lo, hi, s(o.help ?? ''),
      choices ? s(choices.join('\n')) : 0);
    if (st !== 0) fail('OUT_OF_MEMORY', `${where}: out of memory`);
    return { name: o.name, type: o.type, choices };
  }

  /** Unregisters the JS sampler of that name: true if there was one (errors from the registry are thrown). */
  unregister(name) {
    const e = this._e;
    for (const [h, p] of this._byHandle) {
      if (p.name !== name) continue;
      const st = e._x.ddpm_wasm_js_sampler_unregister(h, e._err);
      if (st !== 0) throw e._error(st);
      this._byHandle.delete(h);
      return true;
    }
    return false;
  }

  /* ---- called from inside the module ---- */

  _create(h, ctxPtr) {
    const p = this._byHandle.get(h);
    try {
      if (!p) fail('STATE', 'a JS sampler that is not registered was called');
      const ctx = new SamplerContext(this._e, p, ctxPtr);
      const state = p.plugin.create ? p.plugin.create(ctx) : undefined;
      const id = this._nextRunId++;
      this._runs.set(id, { plugin: p.plugin, name: p.name, ctx, state });
      return id;
    } catch (e) {
      this._e._pending = pluginError(p?.name, 'create', e);
      return -ST_INVALID;
    }
  }

  _step(h, id, ctxPtr, i, xPtr) {
    const r = this._runs.get(id), e = this._e;
    try {
      if (!r) fail('STATE', `no JS sampler run ${id}`);
      const n = r.ctx.batch * r.ctx.imageElems;
      const x = e._f32(xPtr, n).slice();
      r.plugin.step(r.state, r.ctx, i, x);
      if (!(x instanceof Float32Array) || x.length !== n) fail('STATE', 'step must update x in place');
      e._f32(xPtr, n).set(x);
      return 0;
    } catch (err) {
      e._pending = pluginError(r?.name, `step ${i}`, err);
      return ST_INVALID;
    }
  }

  _destroy(h, id) {
    const r = this._runs.get(id);
    if (!r) return;
    this._runs.delete(id);
    try {
      if (r.plugin.destroy) r.plugin.destroy(r.state, r.ctx);
    } catch {
      /* a failing destroy cannot stop the run from being freed */
    }
    r.ctx._free();
  }
}

export function pluginError(name, where, e, what = 'JS sampler') {
  if (e instanceof DdpmError) return e;
  return new DdpmError('PLUGIN', `${what} ${name ?? '?'} failed in ${where}: ${e?.message ?? e}`, { cause: e });
}

/*
 * What a JS sampler sees: the run's sizes, grid, options and schedule, and denoise()/noise() that call back into
 * the module for the C run's own guided model evaluation and noise streams.
 */
class SamplerContext {
  constructor(engine, plugin, ptr) {
    const x = engine._x;
    this._e = engine;
    this._ptr = ptr;
    this._scratch = 0;
    this.batch = x.ddpm_wasm_ctx_batch(ptr);
    this.imageElems = x.ddpm_wasm_ctx_image_elems(ptr) >>> 0;
    this.numSteps = x.ddpm_wasm_ctx_num_steps(ptr);
    this.timesteps = engine._i32(x.ddpm_wasm_ctx_timesteps(ptr), this.numSteps).slice();
    this.prediction = PREDICTIONS[x.ddpm_wasm_ctx_prediction(ptr)];
    const vals = engine._f64(x.ddpm_wasm_ctx_option_values(ptr), plugin.options.length).slice();
    this.options = {};
    plugin.options.forEach((o, j) => {
      this.options[o.name] = o.type === 'bool' ? vals[j] !== 0 : o.type === 'choice' ? o.choices[vals[j]] : vals[j];
    });
    const lp = x.ddpm_wasm_ctx_labels(ptr);
    /** Per-image class labels (-1 = the null class), or null for an unconditional run (informational: denoise()
     * applies them and the guidance itself). */
    this.labels = lp ? Array.from(engine._i32(lp, this.batch)) : null;
    const sched = x.ddpm_wasm_ctx_schedule(ptr);
    this.numTimesteps = x.ddpm_schedule_num_timesteps(sched);
    this.schedule = engine._scheduleArrays(sched);
  }

  _buffers() {
    // [x | out | noise] of batch * imageElems floats, then t of batch floats, allocated on first use
    if (!this._scratch) this._scratch = this._e._malloc((3 * this.batch * this.imageElems + this.batch) * 4);
    const n = this.batch * this.imageElems, b = this._scratch;
    return { x: b, out: b + 4 * n, noise: b + 8 * n, t: b + 12 * n, n };
  }

  /** The (guided) model output for x at per-image timesteps t (or one t for all). */
  denoise(xIn, t) {
    const e = this._e, b = this._buffers();
    if (!(xIn instanceof Float32Array) || xIn.length !== b.n) fail('INVALID_ARGUMENT', `denoise: x must be a Float32Array of ${b.n}`);
    const tv = e._f32(b.t, this.batch);
    if (typeof t === 'number') tv.fill(t);
    else if (t && t.length === this.batch) tv.set(t);
    else fail('INVALID_ARGUMENT', `denoise: t must be a number or ${this.batch} numbers`);
    e._f32(b.x, b.n).set(xIn);
    const st = e._x.ddpm_wasm_ctx_denoise(this._ptr, b.x, b.t, b.out);
    if (st !== 0) fail(STATUS_CODES[st] ?? 'STATE', `denoise failed: ${STATUS_CODES[st]}`);
    return e._f32(b.out, b.n).slice();
  }

  /** Standard normals for step `step`, stream 0..255, [batch * imageElems]: the C samplers' own noise. */
  noise(step, stream = 0) {
    if (!isInt(step) || step < 0 || !isInt(stream) || stream < 0 || stream > 255)
      fail('INVALID_ARGUMENT', 'noise: step must be an integer >= 0 and stream 0..255');
    const e = this._e, b = this._buffers();
    e._x.ddpm_wasm_ctx_noise(this._ptr, step, stream, b.noise);
    return e._f32(b.noise, b.n).slice();
  }

  /** Publishes the current x0 estimate (shown as StepInfo.x0). */
  setPredX0(x0) {
    const e = this._e, p = e._x.ddpm_wasm_ctx_pred_x0(this._ptr), n = this.batch * this.imageElems;
    if (!(x0 instanceof Float32Array) || x0.length !== n) fail('INVALID_ARGUMENT', `setPredX0: need a Float32Array of ${n}`);
    if (p) e._f32(p, n).set(x0);
  }

  _free() {
    if (this._scratch) this._e._x.free(this._scratch);
    this._scratch = 0;
  }
}


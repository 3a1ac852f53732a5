/**
 * ddpm.js — the DDPM engine (the C core compiled to WebAssembly with SIMD128) as an ES module.
 * Works the same in a page, in a Web Worker and in Node >= 18; no run-time dependencies. See ddpm.d.ts for the
 * contract; this file is its implementation.
 *
 * How it talks to the module (src/wasm/exports.c):
 * - The .wasm is built STANDALONE_WASM (no Emscripten glue); this file instantiates it, gives it the imports it
 *   needs (memory-growth notice, the JS-sampler callbacks, stubs for any WASI import) and calls `_initialize`.
 * - Structs are never read by offset: every field goes through a ddpm_wasm_* accessor.
 * - Typed-array views on linear memory are made fresh at each use (`this._f32(ptr, n)`), never kept across a call
 *   into the module, because any call that allocates may grow the memory and detach old views.
 * - Every failure is a DdpmError; a failed call frees what it allocated, so the engine stays usable.
 * - Where model bytes come from (files, URLs, folders, 'hf:' hub repos, downloads, the Cache API) is hub.js's job;
 *   this file only hands the resolved bytes to the C loader.
 */

import { DdpmError, fail } from './errors.js';
import { readBytes, resolveModel, hubDefaults } from './hub.js';

export { DdpmError, resolveModel };

/* The C status enum, in order (include/ddpm.h), as the short codes DdpmError.code carries. */
const STATUS_CODES = ['OK', 'INVALID_ARGUMENT', 'OUT_OF_MEMORY', 'TOO_LARGE', 'IO', 'FORMAT', 'UNSUPPORTED',
  'SHAPE', 'MISSING_TENSOR', 'CONFIG', 'NOT_FOUND', 'EXISTS', 'VERSION', 'BUSY', 'ABORTED', 'STATE'];
const ST_INVALID = 1;
const PREDICTIONS = ['eps', 'x0', 'v'];
const SCHEDULES = ['linear', 'scaled_linear', 'cosine', 'sigmoid'];
const SPACINGS = { leading: 0, trailing: 1, linspace: 2 };
const OPTION_TYPES = ['float', 'int', 'bool', 'choice'];
const SCHEDULE_ARRAYS = ['betas', 'alphas', 'alphasCumprod', 'alphasCumprodPrev', 'sqrtAlphasCumprod',
  'sqrtOneMinusAlphasCumprod', 'posteriorVariance', 'posteriorLogVarianceClipped', 'posteriorMeanCoef1',
  'posteriorMeanCoef2'];
const MAX_BATCH = 4096;              // DDPM_MAX_BATCH
const HEAP_LIMIT = 2 ** 31;          // -sMAXIMUM_MEMORY=2GB (src/wasm/CMakeLists.txt)
const SAMPLER_API_VERSION = 1;       // DDPM_SAMPLER_API_VERSION

const levelsOf = (mask, n) => Array.from({ length: n }, (_, i) => i).filter((i) => (mask >>> i) & 1);
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);

/* ---- pixels ---- */

/* ddpm_to_u8 in float32 arithmetic: floorf((clamp(x, -1, 1) + 1) * 127.5f + 0.5f). Each double operation rounded
 * with Math.fround equals the float32 operation (double has more than 2 * 24 + 2 bits), so the bytes are the C's. */
function toU8(x) {
  if (!(x > -1)) x = -1;
  if (x > 1) x = 1;
  return Math.floor(Math.fround(Math.fround(Math.fround(x + 1) * 127.5) + 0.5));
}

/** [n, C, S, S] floats in [-1, 1] -> one RGBA grid: `cols` images per row (default ceil(sqrt(n))), each scaled
 * `scale` times (nearest neighbour), `gap` transparent pixels between them. 1 channel is drawn grey, 3 as RGB;
 * other channel counts show channel 0 in grey. */
export function toRGBA(images, n, channels, size, opts = {}) {
  const cols = opts.cols ?? Math.max(1, Math.ceil(Math.sqrt(n)));
  const scale = opts.scale ?? 1, gap = opts.gap ?? 1;
  if (!isInt(cols) || cols < 1 || !isInt(scale) || scale < 1 || !isInt(gap) || gap < 0)
    fail('INVALID_ARGUMENT', 'rgba: cols and scale must be integers >= 1, gap an integer >= 0');
  if (images.length < n * channels * size * size) fail('INVALID_ARGUMENT', 'rgba: images is too short');
  const rows = Math.max(1, Math.ceil(n / cols)), cell = size * scale;
  const width = cols * cell + (cols - 1) * gap, height = rows * cell + (rows - 1) * gap;
  const data = new Uint8ClampedArray(width * height * 4);
  const plane = size * size, rgb = channels === 3;
  for (let k = 0; k < n; k++) {
    const ox = (k % cols) * (cell + gap), oy = Math.floor(k / cols) * (cell + gap), base = k * channels * plane;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = base + y * size + x;
        const r = toU8(images[p]), g = rgb ? toU8(images[p + plane]) : r, b = rgb ? toU8(images[p + 2 * plane]) : r;
        for (let dy = 0; dy < scale; dy++) {
          let o = ((oy + y * scale + dy) * width + ox + x * scale) * 4;
          for (let dx = 0; dx < scale; dx++, o += 4) {
            data[o] = r; data[o + 1] = g; data[o + 2] = b; data[o + 3] = 255;
          }
        }
      }
    }
  }
  return { width, height, data };
}

/* ---- a macrotask yield, so that abort signals, timers and the page get a turn between steps ---- */

let macrotask;
if (typeof setImmediate === 'function') {
  macrotask = () => new Promise((resolve) => setImmediate(resolve));
} else if (typeof MessageChannel === 'function') {
  const channel = new MessageChannel(), queue = [];
  channel.port1.onmessage = () => queue.shift()();
  macrotask = () => new Promise((resolve) => { queue.push(resolve); channel.port2.postMessage(0); });
} else {
  macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));
}

/* (module (func (result v128) i32.const 0 i8x16.splat)): valid only where SIMD128 is. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0,
  65, 0, 253, 15, 11]);

let defaultModule = null; // the compiled default ddpm.wasm, shared by every Engine.load()

const INTERNAL = Symbol('internal');

/* ================================================================================================================ */

export class Engine {
  /** True when the running JS engine validates WASM SIMD128 (the engine needs it). */
  static simdSupported() {
    try {
      return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
    } catch {
      return false;
    }
  }

  /** Instantiates ddpm.wasm: from `wasm` (URL/path, bytes, Response or compiled Module), or next to this file. */
  static async load(wasm) {
    let module;
    if (wasm instanceof WebAssembly.Module) {
      module = wasm;
    } else if (wasm === undefined && defaultModule) {
      module = await defaultModule;
    } else {
      const compile = (async () => {
        const bytes = await readBytes(wasm ?? new URL('./dist/ddpm.wasm', import.meta.url), 'ddpm.wasm');
        try {
          return await WebAssembly.compile(bytes);
        } catch (e) {
          const why = Engine.simdSupported() ? e.message : 'this JS engine has no WebAssembly SIMD128';
          throw new DdpmError('UNSUPPORTED', `cannot compile ddpm.wasm: ${why}`, { cause: e });
        }
      })();
      if (wasm === undefined) {
        defaultModule = compile;
        compile.catch(() => { defaultModule = null; });
      }
      module = await compile;
    }
    const engine = new Engine(INTERNAL);
    const instance = await WebAssembly.instantiate(module, engine._imports(module));
    engine._init(instance);
    return engine;
  }

  constructor(token) {
    if (token !== INTERNAL) fail('INVALID_ARGUMENT', 'use Engine.load()');
    this._x = null;
    this._models = new Set();
    this._slots = new Map();   // slot -> { plugin, name, options }
    this._jsRuns = new Map();  // JS sampler state id -> { plugin, ctx, state }
    this._nextRunId = 1;
    this._pending = null;      // an error thrown inside a JS sampler, rethrown when control returns to JS
    this._disposed = false;
  }

  _imports(module) {
    const wasi = {};
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.module !== 'wasi_snapshot_preview1' || imp.kind !== 'function') continue;
      wasi[imp.name] = imp.name === 'proc_exit'
        ? (code) => { throw new DdpmError('STATE', `ddpm.wasm called proc_exit(${code})`); }
        : () => 52; // ENOSYS: nothing in the library needs a system call
    }
    return {
      env: {
        emscripten_notify_memory_growth() {}, // views are made fresh at each use
        ddpm_js_sampler_create: (slot, ctx) => this._jsCreate(slot, ctx),
        ddpm_js_sampler_step: (slot, id, ctx, i, x) => this._jsStep(slot, id, ctx, i, x),
        ddpm_js_sampler_destroy: (slot, id) => this._jsDestroy(slot, id),
      },
      wasi_snapshot_preview1: wasi,
    };
  }

  _init(instance) {
    this._x = instance.exports;
    if (this._x._initialize) this._x._initialize();
    this._err = this._x.malloc(this._x.ddpm_wasm_error_size());
    if (!this._err) fail('OUT_OF_MEMORY', 'out of memory');
    this.version = this._str(this._x.ddpm_version());
    /** The vector backend compiled in ('wasm-simd128'). */
    this.simdBackend = this._str(this._x.ddpm_simd_backend());
  }

  /* ---- memory helpers ---- */

  _live() {
    if (this._disposed) fail('STATE', 'the engine is disposed');
  }
  _u8(ptr, n) { return new Uint8Array(this._x.memory.buffer, ptr, n); }
  _f32(ptr, n) { return new Float32Array(this._x.memory.buffer, ptr, n); }
  _f64(ptr, n) { return new Float64Array(this._x.memory.buffer, ptr, n); }
  _i32(ptr, n) { return new Int32Array(this._x.memory.buffer, ptr, n); }
  _malloc(bytes) {
    const p = this._x.malloc(Math.max(1, bytes));
    if (!p) fail('OUT_OF_MEMORY', `out of memory allocating ${bytes} bytes in the wasm heap`);
    return p;
  }
  _str(ptr) {
    if (!ptr) return null;
    const mem = new Uint8Array(this._x.memory.buffer);
    let end = ptr;
    while (mem[end] !== 0) end++;
    return new TextDecoder().decode(mem.subarray(ptr, end));
  }
  /** A malloc'ed NUL-terminated UTF-8 copy of s (free it). */
  _cstr(s) {
    const bytes = new TextEncoder().encode(String(s));
    const p = this._malloc(bytes.length + 1);
    const m = this._u8(p, bytes.length + 1);
    m.set(bytes);
    m[bytes.length] = 0;
    return p;
  }
  /** Copies floats into a new heap buffer. */
  _putF32(arr) {
    const p = this._malloc(arr.length * 4);
    this._f32(p, arr.length).set(arr);
    return p;
  }
  /** The DdpmError in the error struct, or a pending JS-sampler error, which takes precedence. */
  _error(status) {
    if (this._pending) {
      const e = this._pending;
      this._pending = null;
      return e;
    }
    const st = this._x.ddpm_wasm_error_status(this._err) || status;
    const code = STATUS_CODES[st] ?? `STATUS_${st}`;
    return new DdpmError(code, this._str(this._x.ddpm_wasm_error_message(this._err)) || code.toLowerCase());
  }

  /* ---- public API ---- */

  /** Where 'hf:OWNER/REPO' ids resolve when loadModel is given no hubBase (default https://huggingface.co). */
  static get hubBase() { return hubDefaults.base; }
  static set hubBase(v) { hubDefaults.base = String(v); }

  /** Loads a model (see hub.js for the sources: a weights file; a diffusers UNet2DModel as { weights, config,
   * scheduler? }, a folder or 'hf:OWNER/REPO[@REVISION]'). opts.quantize: 'f32' (as stored), 'f16' or 'i8' rounds
   * the weights on load; variant, onProgress, hubBase, cache, signal go to the download. The bytes are copied into
   * the wasm heap and parsed there; the copy is freed once the model is built. */
  async loadModel(src, opts = {}) {
    this._live();
    const Q = { f32: 0, f16: 1, i8: 2 }[opts.quantize ?? 'f32'];
    if (Q === undefined) fail('INVALID_ARGUMENT', `quantize must be f32, f16 or i8, got ${String(opts.quantize)}`);
    const W = { auto: 0, precomputed: 1, 'on-the-fly': 2 }[opts.winograd ?? 'auto'];
    if (W === undefined) fail('INVALID_ARGUMENT', `winograd must be auto, precomputed or on-the-fly, got ${String(opts.winograd)}`);
    const r = await resolveModel(src, opts);
    this._live();
    if (opts.signal && opts.signal.aborted) fail('ABORTED', `${r.where ?? 'loadModel'}: aborted`);
    try {
      return this._loadBytes(r.weights, r.config, r.scheduler, Q, W, opts.compact ? 1 : 0);
    } catch (e) {
      if (!r.where || !(e instanceof DdpmError)) throw e;
      throw new DdpmError(e.code, `${r.where}: ${e.message}`, { cause: e });
    }
  }

  /* The model from weights bytes (+ config / scheduler JSON bytes or null); Q: the quantize dtype, W: ddpm_winograd. */
  _loadBytes(bytes, cfg, sched, Q, W = 0, compact = 0) {
    const x = this._x, ptrs = [];
    let ptr = 0;
    try {
      const put = (b) => { if (!b) return 0; const p = this._malloc(b.length || 1); ptrs.push(p); this._u8(p, b.length).set(b); return p; };
      const buf = put(bytes), cp = put(cfg), sp = put(sched);
      const out = this._malloc(4); ptrs.push(out);
      const st = x.ddpm_wasm_model_load(buf, bytes.length, cp, cfg ? cfg.length : 0, sp, sched ? sched.length : 0, Q, W,
        compact, out, this._err);
      if (st !== 0) throw this._error(st);
      ptr = this._i32(out, 1)[0];
    } finally {
      for (const p of ptrs) x.free(p);
    }
    const model = new Model(INTERNAL, this, ptr);
    this._models.add(model);
    return model;
  }

  /** Every sampler in the C registry, built-ins and JS plugins alike, with its options. */
  samplers() {
    this._live();
    const x = this._x, n = x.ddpm_sampler_count(), list = [];
    for (let i = 0; i < n; i++) {
      const options = [];
      for (let j = 0, m = x.ddpm_wasm_sampler_num_options(i); j < m; j++) {
        const type = OPTION_TYPES[x.ddpm_wasm_option_type(i, j)];
        const def = x.ddpm_wasm_option_value(i, j, 0);
        const o = { name: this._str(x.ddpm_wasm_option_name(i, j)), type, default: def,
          help: this._str(x.ddpm_wasm_option_help(i, j)) };
        if (type === 'float' || type === 'int') {
          o.min = x.ddpm_wasm_option_value(i, j, 1);
          o.max = x.ddpm_wasm_option_value(i, j, 2);
        } else if (type === 'bool') {
          o.default = def !== 0;
        } else {
          o.choices = [];
          for (let k = 0, c; (c = x.ddpm_wasm_option_choice(i, j, k)); k++) o.choices.push(this._str(c));
          o.default = o.choices[def];
        }
        options.push(o);
      }
      list.push({ name: this._str(x.ddpm_wasm_sampler_name(i)), description: this._str(x.ddpm_wasm_sampler_description(i)),
        options, evalsPerStep: x.ddpm_wasm_sampler_evals_per_step(i), kind: x.ddpm_wasm_sampler_is_js(i) ? 'js' : 'builtin' });
    }
    return list;
  }

  /** Registers a JS sampler into the C registry. The registry's own checks apply (name [a-z0-9_]{1,32}, unique;
   * apiVersion; a step function; well-formed options) and its errors are thrown as they are. */
  registerSampler(plugin) {
    this._live();
    if (plugin === null || typeof plugin !== 'object') fail('INVALID_ARGUMENT', 'registerSampler: plugin must be an object');
    if (typeof plugin.name !== 'string') fail('INVALID_ARGUMENT', 'registerSampler: plugin.name must be a string');
    const x = this._x;
    const opts = plugin.options ?? [];
    if (!Array.isArray(opts)) fail('INVALID_ARGUMENT', `sampler ${plugin.name}: options must be an array`);
    const slot = x.ddpm_wasm_js_slot_reserve();
    if (slot < 0) fail('TOO_LARGE', 'at most 16 JS samplers can be registered at once');
    const temps = [];
    const s = (v) => { const p = this._cstr(v); temps.push(p); return p; };
    let ok = false;
    try {
      const api = typeof plugin.apiVersion === 'number' && plugin.apiVersion >= 0 ? plugin.apiVersion >>> 0 : 0;
      const evals = plugin.evalsPerStep ?? 1;
      if (!isInt(evals) || evals < 1) fail('INVALID_ARGUMENT', `sampler ${plugin.name}: evalsPerStep must be an integer >= 1`);
      if (x.ddpm_wasm_js_sampler_describe(slot, api, s(plugin.name), s(plugin.description ?? ''), evals,
        typeof plugin.step === 'function' ? 1 : 0, opts.length) !== 0)
        fail('INVALID_ARGUMENT', `sampler ${plugin.name}: at most 32 options`);
      const infos = opts.map((o, j) => this._describeOption(slot, j, plugin.name, o, s));
      const st = x.ddpm_wasm_js_sampler_register(slot, this._err);
      if (st !== 0) throw this._error(st);
      this._slots.set(slot, { plugin, name: plugin.name, options: infos });
      ok = true;
    } finally {
      for (const p of temps) x.free(p);
      if (!ok) x.ddpm_wasm_js_slot_release(slot);
    }
  }

  _describeOption(slot, j, sampler, o, s) {
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
    const st = this._x.ddpm_wasm_js_sampler_option(slot, j, s(o.name), type, def, lo, hi, s(o.help ?? ''),
      choices ? s(choices.join('\n')) : 0);
    if (st !== 0) fail('OUT_OF_MEMORY', `${where}: out of memory`);
    return { name: o.name, type: o.type, choices };
  }

  /** Removes a sampler (JS or built-in) from the registry: NOT_FOUND if unknown, BUSY while a run uses it. */
  unregisterSampler(name) {
    this._live();
    const x = this._x;
    for (const [slot, p] of this._slots) {
      if (p.name !== name) continue;
      const st = x.ddpm_wasm_js_sampler_unregister(slot, this._err);
      if (st !== 0) throw this._error(st);
      this._slots.delete(slot);
      return;
    }
    const p = this._cstr(String(name));
    try {
      const st = x.ddpm_sampler_unregister(p, this._err);
      if (st !== 0) throw this._error(st);
    } finally {
      x.free(p);
    }
  }

  /** Bytes of wasm linear memory (it only grows) and bytes the allocator has in use. */
  memory() {
    this._live();
    return { heapBytes: this._x.memory.buffer.byteLength, inUseBytes: this._x.ddpm_wasm_heap_in_use() >>> 0 };
  }

  /** Frees every model (and their runs). The engine cannot be used afterwards. */
  dispose() {
    if (this._disposed) return;
    for (const m of [...this._models]) m.dispose();
    this._disposed = true;
  }

  /* ---- the JS side of JS samplers (called from inside the module) ---- */

  _jsCreate(slot, ctxPtr) {
    const p = this._slots.get(slot);
    try {
      if (!p) fail('STATE', `no JS sampler in slot ${slot}`);
      const ctx = new SamplerContext(this, p, ctxPtr);
      const state = p.plugin.create ? p.plugin.create(ctx) : undefined;
      const id = this._nextRunId++;
      this._jsRuns.set(id, { plugin: p.plugin, ctx, state });
      return id;
    } catch (e) {
      this._pending = pluginError(p?.name, 'create', e);
      return -ST_INVALID;
    }
  }

  _jsStep(slot, id, ctxPtr, i, xPtr) {
    const r = this._jsRuns.get(id);
    try {
      if (!r) fail('STATE', `no JS sampler run ${id}`);
      const n = r.ctx.batch * r.ctx.imageElems;
      const x = this._f32(xPtr, n).slice();
      r.plugin.step(r.state, r.ctx, i, x);
      if (!(x instanceof Float32Array) || x.length !== n) fail('STATE', 'step must update x in place');
      this._f32(xPtr, n).set(x);
      return 0;
    } catch (e) {
      this._pending = pluginError(this._slots.get(slot)?.name, `step ${i}`, e);
      return ST_INVALID;
    }
  }

  _jsDestroy(slot, id) {
    const r = this._jsRuns.get(id);
    if (!r) return;
    this._jsRuns.delete(id);
    try {
      if (r.plugin.destroy) r.plugin.destroy(r.state);
    } catch {
      /* a failing destroy cannot stop the run from being freed */
    }
    r.ctx._free();
  }
}

function pluginError(name, where, e) {
  if (e instanceof DdpmError) return e;
  return new DdpmError('PLUGIN', `JS sampler ${name ?? '?'} failed in ${where}: ${e?.message ?? e}`, { cause: e });
}

/* ================================================================================================================
 * What a JS sampler sees: the run's sizes, grid, options and schedule, and denoise()/noise() that call back into
 * the module for the C run's own guided model evaluation and noise streams.
 */
class SamplerContext {
  constructor(engine, slot, ptr) {
    const x = engine._x;
    this._e = engine;
    this._ptr = ptr;
    this._scratch = 0;
    this.batch = x.ddpm_wasm_ctx_batch(ptr);
    this.imageElems = x.ddpm_wasm_ctx_image_elems(ptr) >>> 0;
    this.numSteps = x.ddpm_wasm_ctx_num_steps(ptr);
    this.timesteps = engine._i32(x.ddpm_wasm_ctx_timesteps(ptr), this.numSteps).slice();
    this.prediction = PREDICTIONS[x.ddpm_wasm_ctx_prediction(ptr)];
    const vals = engine._f64(x.ddpm_wasm_ctx_option_values(ptr), slot.options.length).slice();
    this.options = {};
    slot.options.forEach((o, j) => {
      this.options[o.name] = o.type === 'bool' ? vals[j] !== 0 : o.type === 'choice' ? o.choices[vals[j]] : vals[j];
    });
    const sched = x.ddpm_wasm_ctx_schedule(ptr), T = x.ddpm_schedule_num_timesteps(sched);
    this.numTimesteps = T;
    this.schedule = {};
    SCHEDULE_ARRAYS.forEach((name, k) => {
      this.schedule[name] = engine._f64(x.ddpm_schedule_array_get(sched, k), T).slice();
    });
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

/* ================================================================================================================ */

export class Model {
  constructor(token, engine, ptr) {
    if (token !== INTERNAL) fail('INVALID_ARGUMENT', 'use engine.loadModel()');
    this._e = engine;
    this._ptr = ptr;
    this._jobs = new Set();
    this.config = this._readConfig();
  }

  _readConfig() {
    const e = this._e, x = e._x;
    const ip = e._malloc(64 * 4 + 8 * 8);
    try {
      x.ddpm_wasm_model_config(this._ptr, ip, ip + 256);
      const v = Array.from(e._i32(ip, 64)), d = Array.from(e._f64(ip + 256, 8));
      const metadata = {};
      for (let i = 0, n = x.ddpm_model_num_metadata(this._ptr); i < n; i++)
        metadata[e._str(x.ddpm_wasm_model_metadata(this._ptr, i, 0))] = e._str(x.ddpm_wasm_model_metadata(this._ptr, i, 1));
      return {
        inChannels: v[0], outChannels: v[1], baseChannels: v[2], channelMult: v.slice(14, 14 + v[3]),
        numResBlocks: v[4], attnResolutions: v.slice(22, 22 + v[5]), groups: v[6], numClasses: v[7], imageSize: v[8],
        prediction: PREDICTIONS[v[9]], variance: v[10] ? 'fixed_large' : 'fixed_small', schedule: SCHEDULES[v[11]],
        numTimesteps: v[12], rescaleZeroSnr: v[13] !== 0, betaStart: d[0], betaEnd: d[1], flops: d[2], params: d[3],
        metadata,
        format: v[51] ? 'diffusers' : 'ddpm',
        levelChannels: v.slice(32, 32 + v[3]),
        attention: { downLevels: levelsOf(v[40], v[3]), upLevels: levelsOf(v[41], v[3]), mid: v[42] !== 0,
          headDim: v[43] || null },
        normEps: d[4], nullClass: v[50] !== 0, float32Schedule: v[54] !== 0,
        defaults: { sampler: e._str(x.ddpm_wasm_model_default_sampler(this._ptr)),
          spacing: Object.keys(SPACINGS)[v[52]], stepsOffset: v[53], samplerOptions: this._optionDefaults() },
        unetConfig: e._str(x.ddpm_model_unet_config_json(this._ptr)) || null,
        schedulerConfig: e._str(x.ddpm_model_scheduler_config_json(this._ptr)) || null,
      };
    } finally {
      x.free(ip);
    }
  }

  /* The sampler option defaults of the model's scheduler config: { clip_x0: 1, ... } (empty for own models). */
  _optionDefaults() {
    const e = this._e, x = e._x, p = e._malloc(16), out = {};
    try {
      x.ddpm_wasm_model_option_default(this._ptr, -1, 0, p + 8);
      const n = e._i32(p + 8, 1)[0];
      for (let i = 0; i < n; i++) {
        const name = e._str(x.ddpm_wasm_model_option_default(this._ptr, i, p, 0));
        out[name] = e._f64(p, 1)[0];
      }
    } finally {
      x.free(p);
    }
    return out;
  }

  _live() {
    this._e._live();
    if (!this._ptr) fail('STATE', 'the model is disposed');
  }

  /** One U-Net evaluation: x [n, C, S, S], t per image (or one number), y labels 0..numClasses (numClasses = the
   * null class) or null. Returns the raw output [n, outChannels, S, S]. */
  eps(xIn, t, y = null) {
    this._live();
    const c = this.config, e = this._e, X = e._x, per = c.inChannels * c.imageSize * c.imageSize;
    if (!(xIn instanceof Float32Array) || xIn.length === 0 || xIn.length % per !== 0)
      fail('INVALID_ARGUMENT', `eps: x must be a Float32Array of n * ${per} floats`);
    const n = xIn.length / per, nout = n * c.outChannels * c.imageSize * c.imageSize;
    const tv = typeof t === 'number' ? new Float32Array(n).fill(t) : Float32Array.from(t ?? []);
    if (tv.length !== n) fail('INVALID_ARGUMENT', `eps: t must be a number or ${n} numbers`);
    let yv = null;
    if (y != null) {
      yv = Int32Array.from(y);
      if (yv.length !== n || Array.from(y).some((v) => !isInt(v)))
        fail('INVALID_ARGUMENT', `eps: y must be ${n} integer labels`);
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

  /** Which kernels the forward pass uses: 'simd' (default, fast), 'scalar' (the plain reference) or 'precise'
   * (double sums: for reproducing another engine's long deterministic runs, e.g. a DDIM replay; slowest). */
  setKernels(kind) {
    this._live();
    const k = { simd: 0, scalar: 1, precise: 2 }[kind];
    if (k === undefined) fail('INVALID_ARGUMENT', `setKernels: expected simd, scalar or precise, got ${String(kind)}`);
    this._e._x.ddpm_model_set_kernels(this._ptr, k);
  }

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
  async sample(opts) {
    const it = this._iterate(opts, false);
    for await (const _ of it) { /* progress goes to opts.onStep */ }
    return it.result;
  }

  /** The reverse process step by step (one StepInfo after every `every`-th step and the last); `result` resolves
   * when it finishes. Breaking out of the loop aborts the run and frees it. */
  steps(opts) {
    return this._iterate(opts, true);
  }

  _iterate(opts, yieldSteps) {
    let resolve, reject, settled = false;
    const result = new Promise((res, rej) => { resolve = res; reject = rej; });
    result.catch(() => {}); // callers that only iterate must not see an unhandled rejection
    const settle = (err, value) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(value);
    };
    const model = this;
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

  /** Frees the model and any run still using it (their iterations end with code 'ABORTED'). */
  dispose() {
    if (!this._ptr) return;
    for (const j of [...this._jobs]) j.free('the model was disposed');
    this._e._x.ddpm_model_free(this._ptr);
    this._ptr = 0;
    this._e._models.delete(this);
  }
}

/* ================================================================================================================
 * One sampling run: options checked and converted, the C run created, stepped and freed.
 */
class Job {
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
    let label = opts.classLabel ?? -1;
    if (!isInt(label)) fail('INVALID_ARGUMENT', `classLabel must be an integer (or null), got ${String(label)}`);
    if (c.numClasses === 0 && label !== -1) fail('INVALID_ARGUMENT', `classLabel ${label} given to an unconditional model`);
    if (label < -1 || label >= c.numClasses)
      fail('INVALID_ARGUMENT', `classLabel ${label} is outside 0..${c.numClasses - 1} (or null for none)`);
    if (label === -1 && c.numClasses > 0 && !c.nullClass)
      fail('INVALID_ARGUMENT', 'this class-conditional model has no null class: give a classLabel');
    const guidance = opts.guidance ?? 1;
    if (typeof guidance !== 'number' || !Number.isFinite(guidance)) fail('INVALID_ARGUMENT', `guidance must be a finite number, got ${String(guidance)}`);
    if (guidance !== 1 && c.numClasses === 0) fail('INVALID_ARGUMENT', 'guidance needs a class-conditional model');
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
    const evals = label >= 0 && guidance !== 1 ? 2 * batch : batch;
    const ws = X.ddpm_model_workspace_bytes(model._ptr, evals) >>> 0;
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
      const lo = seed % 2 ** 32, hi = Math.floor(seed / 2 ** 32);
      this.ptr = X.ddpm_wasm_run_create(model._ptr, nameP, optNames.length, namesP, valsP, steps, spacing, lo, hi,
        batch, firstImage, label, guidance, initP, strength, stepsOffset, tsP, timesteps ? timesteps.length : 0,
        startP, noiseP, noise ? noise.length / (D * batch) : 0, e._err);
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

/* A start image for image-to-image -> [batch, C, S, S] floats. */
function initImage(src, batch, C, S) {
  const D = C * S * S, plane = S * S;
  let one;
  if (src instanceof Float32Array) {
    if (src.length === batch * D) return src;
    if (src.length !== D) fail('INVALID_ARGUMENT', `init must hold ${D} or ${batch * D} floats ([1 or batch, ${C}, ${S}, ${S}]), got ${src.length}`);
    one = src;
  } else if (src instanceof Uint8Array || src instanceof Uint8ClampedArray) {
    const grey = src.length === plane, rgba = src.length === 4 * plane;
    if (!grey && !rgba) fail('INVALID_ARGUMENT', `init bytes must be ${S}x${S} grey (${plane}) or RGBA (${4 * plane}), got ${src.length}`);
    one = new Float32Array(D);
    const f = (b) => b / 127.5 - 1;
    for (let i = 0; i < plane; i++) {
      const r = grey ? src[i] : src[4 * i], g = grey ? r : src[4 * i + 1], b = grey ? r : src[4 * i + 2];
      if (C === 3) {
        one[i] = f(r); one[plane + i] = f(g); one[2 * plane + i] = f(b);
      } else {
        const l = grey ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b);
        for (let ch = 0; ch < C; ch++) one[ch * plane + i] = f(l);
      }
    }
  } else {
    fail('INVALID_ARGUMENT', 'init must be a Float32Array, Uint8Array or Uint8ClampedArray');
  }
  const out = new Float32Array(batch * D);
  for (let k = 0; k < batch; k++) out.set(one, k * D);
  return out;
}

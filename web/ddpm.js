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
import { INTERNAL, OPTION_TYPES, SCHEDULE_ARRAYS, STATUS_CODES } from './lib/common.js';
import { Model } from './lib/model.js';
import { NetModel } from './lib/net-model.js';
import { toRGBA } from './lib/pixels.js';
import { SamplerPlugins } from './lib/sampler-plugins.js';
import { sharedMemory, threadsUnavailableReason } from './lib/threads.js';

export { DdpmError, resolveModel, Model, NetModel, toRGBA };

/* (module (func (result v128) i32.const 0 i8x16.splat)): valid only where SIMD128 is. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0,
  65, 0, 253, 15, 11]);

let defaultModule = null; // the compiled default ddpm.wasm, shared by every Engine.load()

/* Compiles a module from a URL/path, bytes or Response; `name` for the messages. */
async function compileModule(src, name) {
  const bytes = await readBytes(src, name);
  try {
    return await WebAssembly.compile(bytes);
  } catch (e) {
    const why = Engine.simdSupported() ? e.message : 'this JS engine has no WebAssembly SIMD128';
    throw new DdpmError('UNSUPPORTED', `cannot compile ${name}: ${why}`, { cause: e });
  }
}

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

  /** Instantiates ddpm.wasm: from `wasm` (URL/path, bytes, Response or compiled Module), or next to this file.
   * opts.threads: true loads the threaded module (dist/ddpm-threads.wasm, or opts.threadsWasm) over a shared memory
   * when this JS environment allows it (Node; a cross-origin isolated page), so that Model.setThreads(n) can split
   * each forward pass across n threads with the same bits; where it does not, the plain module is loaded and
   * engine.threadsUnavailable says why. `wasm` is then the plain module's source (the fallback). */
  static async load(wasm, opts = {}) {
    if (opts.threads) {
      const why = threadsUnavailableReason();
      if (!why) {
        const module = await compileModule(opts.threadsWasm ?? new URL('./dist/ddpm-threads.wasm', import.meta.url),
          'ddpm-threads.wasm');
        return Engine._instantiate(module, sharedMemory());
      }
      const engine = await Engine.load(wasm);
      engine.threadsUnavailable = why;
      return engine;
    }
    let module;
    if (wasm instanceof WebAssembly.Module) {
      module = wasm;
    } else if (wasm === undefined && defaultModule) {
      module = await defaultModule;
    } else {
      const compile = compileModule(wasm ?? new URL('./dist/ddpm.wasm', import.meta.url), 'ddpm.wasm');
      if (wasm === undefined) {
        defaultModule = compile;
        compile.catch(() => { defaultModule = null; });
      }
      module = await compile;
    }
    return Engine._instantiate(module, null);
  }

  static async _instantiate(module, memory) {
    const engine = new Engine(INTERNAL);
    engine._module = module;
    engine._memory = memory; // the shared memory the threaded module imports, else its own (set in _init)
    const instance = await WebAssembly.instantiate(module, engine._imports(module));
    engine._init(instance);
    return engine;
  }

  constructor(token) {
    if (token !== INTERNAL) fail('INVALID_ARGUMENT', 'use Engine.load()');
    this._x = null;
    this._models = new Set();
    this._plugins = new SamplerPlugins(this);
    this._nets = new Map();    // JS model id -> NetModel
    this._nextNetId = 1;
    this._pending = null;      // an error thrown inside a JS plugin, rethrown when control returns to JS
    this._disposed = false;
    this._module = null;
    this._memory = null;
    this._reads = new Map(); // handle -> Uint8Array: the weights files being loaded (ddpm_js_read)
    this._readId = 0;
    /** Why Model.setThreads(n > 1) is refused in this engine (null when threads work). */
    this.threadsUnavailable = 'the engine was loaded without { threads: true }';
  }

  /** True when this engine runs the threaded module (Model.setThreads(n > 1) works). */
  get threadsSupported() { return this.threadsUnavailable === null; }

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
        ...(this._memory ? { memory: this._memory } : {}),
        emscripten_notify_memory_growth() {}, // views are made fresh at each use
        ...this._plugins.imports(),
        ddpm_js_read: (h, lo, hi, n, dst) => { // a weights file's bytes, one tensor at a time (_loadBytes)
          const b = this._reads.get(h), at = hi * 2 ** 32 + lo;
          if (!b || at + n > b.length) return -1;
          this._u8(dst, n).set(b.subarray(at, at + n));
          return 0;
        },
        ddpm_js_denoise: (id, n, x, t, y, out) => {
          const net = this._nets.get(id);
          return net ? net._eval(n, x, t, y, out) : 13; // DDPM_ERR_STATE
        },
      },
      wasi_snapshot_preview1: wasi,
    };
  }

  _init(instance) {
    this._x = instance.exports;
    if (this._memory) {
      if (!this._x.ddpm_wasm_threads_supported || !this._x.ddpm_wasm_threads_supported())
        fail('UNSUPPORTED', 'the module given as the threaded build has no threads');
      this.threadsUnavailable = null;
    } else {
      this._memory = this._x.memory;
    }
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
  _u8(ptr, n) { return new Uint8Array(this._memory.buffer, ptr, n); }
  _f32(ptr, n) { return new Float32Array(this._memory.buffer, ptr, n); }
  _f64(ptr, n) { return new Float64Array(this._memory.buffer, ptr, n); }
  _i32(ptr, n) { return new Int32Array(this._memory.buffer, ptr, n); }
  _malloc(bytes) {
    const p = this._x.malloc(Math.max(1, bytes));
    if (!p) fail('OUT_OF_MEMORY', `out of memory allocating ${bytes} bytes in the wasm heap`);
    return p;
  }
  _str(ptr) {
    if (!ptr) return null;
    const mem = new Uint8Array(this._memory.buffer);
    let end = ptr;
    while (mem[end] !== 0) end++;
    return new TextDecoder().decode(mem.slice(ptr, end)); // a copy: TextDecoder refuses shared memory
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
   * the weights on load; compact keeps the 3x3 weights so; memoryBudget (bytes) bounds the resident weights
   * (ddpm_load_options.memory_budget; model.memory() says what was chosen); variant, onProgress, hubBase, cache,
   * signal go to the download. The file stays in its JS buffer: the loader reads its header, then one tensor at
   * a time into the wasm heap, so the heap holds the model and at most one tensor of the file. */
  async loadModel(src, opts = {}) {
    this._live();
    const Q = { f32: 0, f16: 1, i8: 2 }[opts.quantize ?? 'f32'];
    if (Q === undefined) fail('INVALID_ARGUMENT', `quantize must be f32, f16 or i8, got ${String(opts.quantize)}`);
    const W = { auto: 0, precomputed: 1, 'on-the-fly': 2 }[opts.winograd ?? 'auto'];
    if (W === undefined) fail('INVALID_ARGUMENT', `winograd must be auto, precomputed or on-the-fly, got ${String(opts.winograd)}`);
    const B = opts.memoryBudget ?? 0;
    if (!Number.isSafeInteger(B) || B < 0 || B > 2 ** 32 - 1)
      fail('INVALID_ARGUMENT', `memoryBudget must be a number of bytes in 0..2^32-1 (0: none), got ${String(opts.memoryBudget)}`);
    const r = await resolveModel(src, opts);
    this._live();
    if (opts.signal && opts.signal.aborted) fail('ABORTED', `${r.where ?? 'loadModel'}: aborted`);
    try {
      return this._loadBytes(r.weights, r.config, r.scheduler, Q, W, opts.compact ? 1 : 0, B);
    } catch (e) {
      if (!r.where || !(e instanceof DdpmError)) throw e;
      throw new DdpmError(e.code, `${r.where}: ${e.message}`, { cause: e });
    }
  }

  /* The model from weights bytes (+ config / scheduler JSON bytes or null); Q: the quantize dtype, W: ddpm_winograd. */
  _loadBytes(bytes, cfg, sched, Q, W = 0, compact = 0, budget = 0) {
    // The weights stay in their JS buffer: the C loader reads the header, then each tensor once (ddpm_js_read), so
    // the heap never holds the whole file next to the model.
    const x = this._x, ptrs = [], h = ++this._readId;
    let ptr = 0;
    this._reads.set(h, bytes);
    try {
      const put = (b) => { if (!b) return 0; const p = this._malloc(b.length || 1); ptrs.push(p); this._u8(p, b.length).set(b); return p; };
      const cp = put(cfg), sp = put(sched);
      const out = this._malloc(4); ptrs.push(out);
      const st = x.ddpm_wasm_model_load_js(h, bytes.length % 2 ** 32, Math.floor(bytes.length / 2 ** 32), cp,
        cfg ? cfg.length : 0, sp, sched ? sched.length : 0, Q, W, compact, budget, out, this._err);
      if (st !== 0) throw this._error(st);
      ptr = this._i32(out, 1)[0];
    } finally {
      this._reads.delete(h);
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
    this._plugins.register(plugin);
  }

  /** Removes a sampler (JS or built-in) from the registry: NOT_FOUND if unknown, BUSY while a run uses it. */
  unregisterSampler(name) {
    this._live();
    const x = this._x;
    if (this._plugins.unregister(name)) return;
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
    return { heapBytes: this._memory.buffer.byteLength, inUseBytes: this._x.ddpm_wasm_heap_in_use() >>> 0 };
  }

  /** A model plugin: any network evaluated in JS, sampled by every registered sampler (see lib/net-model.js). It
   * has the interface of a loaded Model (config, sample(), steps(), dispose()). */
  wrapModel(net) {
    this._live();
    const id = this._nextNetId++;
    const m = new NetModel(INTERNAL, this, net, id);
    this._nets.set(id, m);
    return m;
  }

  /** One run over a model plugin, with the interface of Model: run(net, opts).sample() resolves with the images,
   * run(net, opts).steps() iterates the steps (its `result` settles at the end). The wrapper is freed when the run
   * ends; use wrapModel() to keep it for several runs. */
  run(net, opts) {
    const m = this.wrapModel(net);
    const once = (f) => {
      let used = false;
      return () => {
        if (used) fail('STATE', 'engine.run(): sample() or steps() may be called once');
        used = true;
        return f();
      };
    };
    return {
      model: m,
      sample: once(() => m.sample(opts).finally(() => m.dispose())),
      steps: once(() => {
        const it = m.steps(opts);
        it.result.then(() => m.dispose(), () => m.dispose());
        return it;
      }),
    };
  }

  /* The arrays of a ddpm_schedule, by name (each T doubles, copied). */
  _scheduleArrays(sched) {
    const x = this._x, T = x.ddpm_schedule_num_timesteps(sched), out = {};
    SCHEDULE_ARRAYS.forEach((name, k) => { out[name] = this._f64(x.ddpm_schedule_array_get(sched, k), T).slice(); });
    return out;
  }

  /** Frees every model (and their runs). The engine cannot be used afterwards. */
  dispose() {
    if (this._disposed) return;
    for (const m of [...this._models]) m.dispose();
    for (const m of [...this._nets.values()]) m.dispose();
    this._disposed = true;
  }
}

/**
 * pool.js — a pool of Web Workers (worker.js) that samples one batch together.
 *
 * With batch B and W workers, worker j samples images [start_j, start_j + n_j) of the batch with
 * firstImage = start_j (+ the caller's own firstImage). The engine draws image k's noise from (seed, firstImage + k)
 * alone and evaluates every image of a batch independently, so the assembled batch is bit for bit the batch one
 * worker would produce; browser-tests/ check this.
 *
 *   const pool = new WorkerPool(new URL('./worker.js', import.meta.url), 2);
 *   const info = await pool.load(wasmModule, modelBytes);        // {config, samplers, version}
 *   // modelBytes: a weights file's ArrayBuffer, or a diffusers model's {weights, config, scheduler} bytes
 *   // (what web/hub.js resolveModel returns), copied to every worker
 *   const res = await pool.run({seed: 1, batch: 16, ...}, (frame) => draw(frame.x));
 *   // res: {bytes: Uint8Array [B, C, S, S], stopped, lastStep, ms, split: images per worker}
 */

/**
 * Splits `batch` images over at most `workers` contiguous parts. Without `weights` the parts are as even as possible,
 * earlier parts taking the remainder. With `weights` (one positive speed per worker, e.g. images x steps per ms
 * measured on the previous run) every part gets one image and the rest is shared in proportion to the weights,
 * largest remainders first (ties to the earlier part), so a slower core (an efficiency core, a busy vCPU) gets
 * fewer images and the parts finish together. Any split gives the same images: noise depends on firstImage alone.
 * @param {number} batch  @param {number} workers  @param {number[]|null} [weights]
 * @returns {{start: number, count: number}[]} contiguous, in order, every count >= 1
 */
export function splitBatch(batch, workers, weights = null) {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError('batch must be an integer >= 1');
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError('workers must be an integer >= 1');
  const w = Math.min(workers, batch);
  let ws = weights && weights.length >= w ? weights.slice(0, w) : null;
  if (ws && !ws.every((v) => Number.isFinite(v) && v > 0)) ws = null;
  if (!ws) ws = new Array(w).fill(1);
  const total = ws.reduce((a, b) => a + b, 0);
  const rest = batch - w;
  const exact = ws.map((v) => (rest * v) / total);
  const counts = exact.map((e) => 1 + Math.floor(e));
  let left = batch - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, j) => [e - Math.floor(e), j]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; left > 0; k++, left--) counts[order[k][1]]++;
  const parts = [];
  let start = 0;
  for (const count of counts) {
    parts.push({ start, count });
    start += count;
  }
  return parts;
}

/* The options of one part of a batch: its images' labels, start images and replay noise, and its firstImage. */
function partOptions(opts, part, batch, D, first) {
  const o = { ...opts, batch: part.count, firstImage: first + part.start };
  const cut = (v) => v.slice(part.start, part.start + part.count);
  if (Array.isArray(opts.classLabel) || ArrayBuffer.isView(opts.classLabel)) o.classLabel = cut(opts.classLabel);
  for (const k of ['init', 'startX']) { // one image for all, or one per image
    const v = opts[k];
    if (v && v.length === batch * D && batch > 1) o[k] = v.slice(part.start * D, (part.start + part.count) * D);
  }
  if (opts.noise && opts.noise.length % (batch * D) === 0) { // [K, batch, C, S, S]: each draw's slice
    const K = opts.noise.length / (batch * D), nz = new Float32Array(K * part.count * D);
    for (let k = 0; k < K; k++)
      nz.set(opts.noise.subarray((k * batch + part.start) * D, (k * batch + part.start + part.count) * D), k * part.count * D);
    o.noise = nz;
  }
  return o;
}

/** An error from a worker, with the engine's code ('DDPM_ERR_…', 'ABORTED', 'IO', …) and the stage it failed in. */
export class PoolError extends Error {
  constructor(message, code, stage) {
    super(message);
    this.name = 'PoolError';
    this.code = code;
    this.stage = stage;
  }
}

// A worker that ignores 'stop' for this long (a step that never ends) is terminated and replaced.
const STOP_GRACE_MS = 15000;

export class WorkerPool {
  /** @param {URL|string} workerUrl  @param {number} size initial number of workers */
  constructor(workerUrl, size = 1) {
    this.workerUrl = workerUrl;
    this.workers = [];
    this.size = Math.max(1, size | 0);
    this.wasm = null;       // WebAssembly.Module (or bytes) given to every worker
    this.modelBytes = null; // ArrayBuffer or {weights, config, scheduler} bytes, copied to every worker
    this.loadOptions = {};  // engine.loadModel options ({quantize, winograd, compact})
    this.plugins = [];      // sampler-plugin module URLs every worker registers
    this.info = null;       // the first worker's 'ready' message
    this.runId = 0;
    this.active = null;     // the run in progress
    this.loading = null;    // promise of the load in progress
    this.requests = new Map(); // rid -> {resolve, reject} of request()s waiting for their reply
    this.rid = 0;
  }

  /** Sends one request message to the first worker (it answers even while a run is in progress, between two
   * steps); resolves with its reply, or rejects with a PoolError. */
  async request(msg, transfer = []) {
    if (this.loading) await this.loading;
    if (!this.info || !this.workers.length) throw new PoolError('the model is not loaded', 'STATE', 'request');
    const rid = ++this.rid;
    return new Promise((resolve, reject) => {
      this.requests.set(rid, { resolve, reject });
      this.workers[0].worker.postMessage({ ...msg, rid }, transfer);
    });
  }

  _reply(m) {
    const r = this.requests.get(m.rid);
    if (!r) return;
    this.requests.delete(m.rid);
    if (m.error) r.reject(new PoolError(m.error.message, m.error.code, 'request'));
    else r.resolve(m);
  }

  _failRequests(why) {
    for (const r of this.requests.values()) r.reject(new PoolError(why, 'STATE', 'request'));
    this.requests.clear();
  }

  _spawn() {
    const w = new Worker(this.workerUrl, { type: 'module', name: `ddpm-${this.workers.length}` });
    const slot = { worker: w, ready: null, handler: null, rate: 0 }; // rate: images x steps per ms, last runs
    w.onmessage = (ev) => {
      if (ev.data.type === 'reply') this._reply(ev.data);
      else if (slot.handler) slot.handler(ev.data);
    };
    w.onerror = (ev) => {
      ev.preventDefault();
      const msg = { type: 'error', id: null, code: 'WORKER', message: ev.message || 'the worker failed to start' };
      if (slot.handler) slot.handler(msg);
    };
    w.onmessageerror = () => slot.handler && slot.handler({ type: 'error', id: null, code: 'WORKER',
      message: 'a message from the worker could not be read' });
    return slot;
  }

  /** Loads the engine and the model into one worker; resolves with its 'ready' message. */
  _init(slot) {
    slot.ready = new Promise((resolve, reject) => {
      slot.handler = (m) => {
        if (m.type === 'ready') { slot.handler = null; resolve(m); }
        else if (m.type === 'error') {
          slot.handler = null;
          reject(new PoolError(m.message, m.code, m.stage || 'worker'));
        }
      };
    });
    // The model bytes are copied (not transferred): the pool keeps them to start more workers later.
    slot.worker.postMessage({ type: 'init', wasm: this.wasm, model: this.modelBytes, loadOptions: this.loadOptions,
      plugins: this.plugins, threads: this.threadsPerWorker() });
    return slot.ready;
  }

  /** Threads each worker may split one image across (worker.js applies them to models of 2 GFLOP or more, where a
   * cross-origin isolated page allows it): the cores shared among the workers. */
  threadsPerWorker() {
    const cores = (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1;
    return Math.max(1, Math.floor(cores / Math.max(1, this.size)));
  }

  /** Starts the workers now (they fetch ddpm.js while the page fetches the wasm and the model). */
  warm() {
    while (this.workers.length < this.size) this.workers.push(this._spawn());
  }

  /** Lets the started workers instantiate the engine before the model arrives (load() sends it again anyway). */
  startEngine(wasm) {
    for (const s of this.workers) s.worker.postMessage({ type: 'engine', wasm });
  }

  /** (Re)loads every worker with this engine and model; resolves with {config, samplers, version, ms}. opts:
   * loadOptions (engine.loadModel's quantize, winograd, compact), plugins (sampler-plugin module URLs). */
  async load(wasm, modelBytes, opts = {}) {
    if (this.active) this.stop();
    this.wasm = wasm;
    this.modelBytes = modelBytes;
    this.loadOptions = opts.loadOptions ?? {};
    if (opts.plugins) this.plugins = opts.plugins.map(String);
    const p = (async () => {
      this.warm();
      for (const s of this.workers) s.rate = 0; // another model: measure again
      const ready = await Promise.all(this.workers.map((s) => this._init(s)));
      this.info = ready[0];
      return this.info;
    })();
    const loading = p.finally(() => { if (this.loading === loading) this.loading = null; });
    loading.catch(() => {}); // the failure is the caller's (below), not an unhandled rejection
    this.loading = loading;
    // A failed load leaves no half-loaded worker behind.
    return p.catch((e) => { this._terminateAll(); throw e; });
  }

  /** Changes the number of workers (new ones are loaded with the current engine and model). */
  async resize(n) {
    n = Math.max(1, n | 0);
    this.size = n;
    if (this.loading) await this.loading.catch(() => {});
    if (!this.modelBytes || this.active) return; // applied by the next load / after the run (see run())
    while (this.workers.length > n) this.workers.pop().worker.terminate();
    const fresh = [];
    while (this.workers.length < n) { const s = this._spawn(); this.workers.push(s); fresh.push(s); }
    await Promise.all(fresh.map((s) => this._init(s)));
  }

  /**
   * Samples one batch over the pool. opts: SampleOptions without signal/onStep (batch, seed, firstImage…).
   * onFrame({step, numSteps, t, x, x0, imageElems, worker}) is called for every step message of every worker;
   * x and x0 are the whole batch as 8-bit pixels [B, C, S, S] (images a worker has not reached yet keep their
   * previous frame); step is the step every worker has reached (the slowest one). The message itself: part
   * ({start, count} of the batch, one of `parts`), partStep, partX, partX0 (that worker's images at its own step).
   * Resolves {bytes, stopped, lastStep, ms, split}; rejects with a PoolError. With float, x and x0 are the engine's
   * Float32Arrays and the result also holds images: Float32Array [B, C, S, S].
   */
  async run(opts, onFrame = () => {}, { float = false } = {}) {
    if (this.active) throw new PoolError('a run is already in progress', 'BUSY', 'run');
    if (this.loading) await this.loading;
    if (!this.info) throw new PoolError('the model is not loaded', 'STATE', 'run');
    await this.resize(this.size); // apply a size change made during the previous run
    const cfg = this.info.config;
    const batch = opts.batch ?? 1;
    const imageElems = cfg.inChannels * cfg.imageSize * cfg.imageSize;
    const first = opts.firstImage ?? 0;
    // Parts in proportion to each worker's measured speed once every worker has one (see splitBatch).
    const rates = this.workers.map((s) => s.rate);
    const parts = splitBatch(batch, this.workers.length, rates.every((r) => r > 0) ? rates : null);
    const id = ++this.runId;
    const Frame = float ? Float32Array : Uint8Array;
    const x = new Frame(batch * imageElems);
    const x0 = new Frame(batch * imageElems);
    const images = float ? new Float32Array(batch * imageElems) : null;
    const steps = new Array(parts.length).fill(0);
    const bytes = new Uint8Array(batch * imageElems);
    const t0 = performance.now();

    const run = { id, parts, slots: parts.map((_, j) => this.workers[j]), stopping: false, watchdog: 0 };
    this.active = run;
    try {
      const results = await new Promise((resolve, reject) => {
        let pending = parts.length;
        const outcome = new Array(parts.length);
        let failed = false;
        parts.forEach((part, j) => {
          const slot = run.slots[j];
          slot.handler = (m) => {
            if (m.id !== id && m.id !== null) return; // a late message of an older run
            if (m.type === 'step') {
              x.set(m.x, part.start * imageElems);
              x0.set(m.x0, part.start * imageElems);
              steps[j] = m.step;
              if (!run.stopping) {
                onFrame({ step: Math.min(...steps), maxStep: Math.max(...steps), numSteps: m.numSteps, t: m.t,
                  x, x0, imageElems, worker: j, parts: parts.length, part, partStep: m.step, partX: m.x, partX0: m.x0 });
              }
              return;
            }
            if (m.type === 'done') {
              bytes.set(m.bytes, part.start * imageElems);
              if (images) images.set(m.images, part.start * imageElems);
            }
            if (m.type === 'error') {
              if (!failed) {
                failed = true;
                this._stopWorkers(run, j); // the others stop too
                reject(new PoolError(m.message, m.code, 'run'));
              }
            }
            outcome[j] = m;
            slot.handler = null;
            if (--pending === 0 && !failed) resolve(outcome);
          };
          slot.handler.run = id;
          slot.worker.postMessage({ type: 'run', id, float, opts: partOptions(opts, part, batch, imageElems, first) });
        });
      });
      const stopped = results.some((m) => m.type === 'stopped');
      const lastStep = Math.max(...results.map((m) => m.lastStep || 0));
      if (!stopped) {
        results.forEach((m, j) => {
          const r = (parts[j].count * (m.lastStep || 0)) / m.ms; // images x steps per ms on this worker
          if (Number.isFinite(r) && r > 0) run.slots[j].rate = run.slots[j].rate ? 0.5 * (run.slots[j].rate + r) : r;
        });
      }
      return { bytes: stopped ? null : bytes, images: stopped ? null : images, stopped, lastStep,
        ms: performance.now() - t0, split: parts.map((p) => p.count) };
    } finally {
      clearTimeout(run.watchdog);
      for (const slot of run.slots) if (slot.handler && slot.handler.run === id) slot.handler = null;
      this.active = null;
    }
  }

  _stopWorkers(run, except = -1) {
    run.slots.forEach((slot, j) => {
      if (j !== except) slot.worker.postMessage({ type: 'stop', id: run.id });
    });
  }

  /** Asks the run to stop; its promise resolves with stopped: true after the step in progress. */
  stop() {
    const run = this.active;
    if (!run || run.stopping) return;
    run.stopping = true;
    this._stopWorkers(run);
    // A worker stuck inside one step is replaced rather than waited for.
    run.watchdog = setTimeout(() => {
      if (this.active !== run) return;
      run.slots.forEach((slot) => {
        const h = slot.handler;
        if (!h || h.run !== run.id) return;
        slot.worker.terminate();
        const k = this.workers.indexOf(slot);
        if (k === 0) this._failRequests('the worker was stuck in a step and replaced');
        if (k >= 0) {
          const fresh = this._spawn();
          this.workers[k] = fresh;
          this._init(fresh).catch(() => {});
        }
        h({ type: 'stopped', id: run.id, lastStep: 0 });
      });
    }, STOP_GRACE_MS);
  }

  _terminateAll() {
    for (const s of this.workers) s.worker.terminate();
    this._failRequests('the workers were ended');
    this.workers = [];
    this.info = null;
  }

  /** Ends every worker. */
  terminate() {
    if (this.active) this.stop();
    this._terminateAll();
    this.modelBytes = null;
  }
}

/*
 * threads.js — threads for one forward pass in WebAssembly (the threaded module ddpm-threads.wasm; src/core/par.h).
 *
 * The C core splits each convolution, GEMM and attention of a forward pass into tasks that each compute their own
 * output elements, so every thread count gives the same bits. In wasm the threads are workers (Web Workers in a
 * browser, worker_threads in Node) that each instantiate the same module over the same shared memory and run the
 * pool's loop (web/lib/thread-worker.js). Shared memory needs SharedArrayBuffer, which a browser only gives a page
 * that is cross-origin isolated (served with Cross-Origin-Opener-Policy: same-origin and
 * Cross-Origin-Embedder-Policy: require-corp); elsewhere the engine runs on one thread and says why
 * (threadsUnavailableReason()).
 *
 * One ModelThreads per model: set(n) frees the old pool (the C side waits for its workers to leave their loop),
 * terminates the old workers, creates the new pool and starts n - 1 workers, and resolves when every one has
 * entered the pool's loop; only then may the model be freed or its thread count changed again.
 */
import { DdpmError, fail } from '../errors.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof self === 'undefined';
const STACK_BYTES = 1 << 20; // per worker; the kernels keep at most a few tens of KiB on the stack
const START_TIMEOUT_MS = 20000;

/** Why this JS environment cannot run wasm threads, or null when it can. */
export function threadsUnavailableReason() {
  if (typeof SharedArrayBuffer === 'undefined' || (typeof crossOriginIsolated === 'boolean' && !crossOriginIsolated))
    return 'the page is not cross-origin isolated, so SharedArrayBuffer is unavailable (serve it with ' +
      'Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';
  if (!isNode && typeof Worker === 'undefined') return 'this JS environment has no Web Workers';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return 'this WebAssembly engine has no shared memory (threads proposal)';
  }
  return null;
}

/** Processors this JS environment reports (at least 1). */
export async function hardwareThreads() {
  if (isNode) {
    const spec = ['node', 'os'].join(':'); // computed: bundlers for the web leave it alone
    const os = await import(/* webpackIgnore: true */ /* @vite-ignore */ spec);
    return Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  }
  return Math.max(1, (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1);
}

/** The shared memory the threaded module imports: 16 MiB initially (the link's INITIAL_MEMORY), up to 2 GiB. */
export function sharedMemory() {
  return new WebAssembly.Memory({ initial: 256, maximum: 32768, shared: true });
}

async function spawn(url) {
  if (isNode) {
    const spec = ['node', 'worker_threads'].join(':');
    const { Worker: NodeWorker } = await import(/* webpackIgnore: true */ /* @vite-ignore */ spec);
    const w = new NodeWorker(url);
    return {
      post: (m) => w.postMessage(m),
      on: (fn) => { w.on('message', fn); w.on('error', (e) => fn({ type: 'error', message: e.message })); },
      terminate: () => w.terminate(),
    };
  }
  const w = new Worker(url, { type: 'module' });
  return {
    post: (m) => w.postMessage(m),
    on: (fn) => {
      w.onmessage = (ev) => fn(ev.data);
      w.onerror = (ev) => { ev.preventDefault?.(); fn({ type: 'error', message: ev.message || 'worker failed to load' }); };
    },
    terminate: () => w.terminate(),
  };
}

export class ModelThreads {
  constructor(engine, model) {
    this._e = engine;
    this._model = model; // the Model (its _ptr)
    this._workers = [];  // { handle, stack }
    this._busy = null;   // the set() in flight
  }

  get count() { return this._e._x.ddpm_model_threads(this._model._ptr); }

  /** Waits for a set() in flight (dispose and set call it first). */
  async settle() {
    while (this._busy) await this._busy.catch(() => {});
  }

  set(n, workerUrl) {
    const job = (async () => {
      await this.settle();
      this._busy = job;
      try {
        await this._set(n, workerUrl);
      } finally {
        this._busy = null;
      }
    })();
    return job;
  }

  async _set(n, workerUrl) {
    const e = this._e, X = e._x, ptr = this._model._ptr;
    if (n > 1 && !e.threadsSupported)
      fail('UNSUPPORTED', `threads: ${n} requested, but ${e.threadsUnavailable}; running on one thread`);
    if (n === this.count && this._workers.length === Math.max(0, n - 1)) return; // the C side keeps its pool too
    const st = X.ddpm_model_set_threads(ptr, n, e._err); // frees the old pool: its workers leave their loop
    if (st !== 0) throw e._error(st);
    await this._stopWorkers();
    if (n <= 1) return;
    const par = X.ddpm_wasm_model_par(ptr);
    const url = workerUrl ?? new URL('./thread-worker.js', import.meta.url);
    const entered = [];
    try {
      for (let k = 1; k < n; k++) {
        const stack = e._malloc(STACK_BYTES);
        const handle = await spawn(url);
        this._workers.push({ handle, stack });
        entered.push(new Promise((resolve, reject) => {
          handle.on((m) => {
            if (m.type === 'entered') resolve();
            else if (m.type === 'error') reject(new DdpmError('UNSUPPORTED', `thread worker ${k}: ${m.message}`));
          });
        }));
        handle.post({ module: e._module, memory: e._memory, par, index: k, stackTop: (stack + STACK_BYTES) & ~15 });
      }
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new DdpmError('UNSUPPORTED',
          `threads: the workers did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      });
      try {
        await Promise.race([Promise.all(entered), timeout]);
      } finally {
        clearTimeout(timer);
      }
      // 'entered' is posted just before the loop: wait until the C side counts every worker inside it
      while (X.ddpm_wasm_par_alive(par) < n - 1) await new Promise((r) => setTimeout(r, 1));
    } catch (err) {
      // back to one thread: a worker that never entered may still be starting, so wait for the ones that did
      await Promise.allSettled(entered);
      X.ddpm_model_set_threads(ptr, 1, e._err);
      await this._stopWorkers();
      throw err;
    }
  }

  async _stopWorkers() {
    const ws = this._workers;
    this._workers = [];
    await Promise.all(ws.map((w) => w.handle.terminate()));
    for (const w of ws) this._e._x.free(w.stack);
  }

  /** Frees the pool (the model is about to be freed): its workers leave their loop, then they are terminated. */
  async close() {
    await this.settle();
    if (this._model._ptr && this._workers.length) this._e._x.ddpm_model_set_threads(this._model._ptr, 1, this._e._err);
    await this._stopWorkers();
  }
}

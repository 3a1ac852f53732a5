/*
 * thread-worker.js — one thread of a model's pool (web/lib/threads.js, src/core/par.h), in a Web Worker or a Node
 * worker_thread. It instantiates the threaded module (ddpm-threads.wasm) over the page's shared memory, moves its
 * stack pointer to the stack the main thread allocated for it, says so, and runs the pool's tasks until the pool is
 * freed; then it says so again and waits to be terminated. It never calls into JS (its imports are stubs).
 *
 * message in:  { module: WebAssembly.Module, memory: WebAssembly.Memory (shared), par, index, stackTop }
 * messages out: { type: 'entered' } | { type: 'exited' } | { type: 'error', message }
 */
function instantiate({ module, memory }) {
  const env = {}, wasi = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== 'function') continue;
    const stub = () => { throw new Error(`ddpm thread worker: unexpected call to ${imp.module}.${imp.name}`); };
    if (imp.module === 'env') env[imp.name] = imp.name === 'emscripten_notify_memory_growth' ? () => {} : stub;
    else if (imp.module === 'wasi_snapshot_preview1') wasi[imp.name] = () => 52; // ENOSYS
  }
  env.memory = memory;
  return new WebAssembly.Instance(module, { env, wasi_snapshot_preview1: wasi });
}

function run(msg, post) {
  try {
    const x = instantiate(msg).exports; // no _initialize: the main thread's instance has set up the memory
    x.stackRestore(msg.stackTop);
    post({ type: 'entered' });
    x.ddpm_wasm_par_worker(msg.par, msg.index); // returns when the pool is freed
    post({ type: 'exited' });
  } catch (e) {
    post({ type: 'error', message: String(e && e.message || e) });
  }
}

if (typeof self !== 'undefined' && typeof self.postMessage === 'function') {
  self.onmessage = (ev) => run(ev.data, (m) => self.postMessage(m));
} else {
  const spec = ['node', 'worker_threads'].join(':'); // computed: bundlers for the web leave it alone
  const { parentPort } = await import(/* @vite-ignore */ /* webpackIgnore: true */ spec);
  parentPort.once('message', (msg) => run(msg, (m) => parentPort.postMessage(m)));
}

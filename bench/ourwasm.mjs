// Loader for bench/out/ddpm_bench.wasm (bench/build_wasm.sh): no Emscripten glue, a few typed-array helpers.
import { readFileSync } from 'node:fs';

export async function loadOurs(wasmPath, modelBytes) {
  const bytes = readFileSync(wasmPath);
  const stub = () => 0;
  const wasi = new Proxy({}, { get: () => stub });
  const { instance } = await WebAssembly.instantiate(bytes, {
    env: new Proxy({ emscripten_notify_memory_growth() {} }, { get: (o, k) => o[k] || stub }),
    wasi_snapshot_preview1: wasi,
  });
  const e = instance.exports;
  if (e._initialize) e._initialize();
  const heap = () => e.memory.buffer;
  const put = (arr) => {
    const p = e.malloc(arr.byteLength);
    new Uint8Array(heap(), p, arr.byteLength).set(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    return p;
  };
  const errText = () => {
    const p = e.bw_error(), u = new Uint8Array(heap());
    let s = '';
    for (let i = p; u[i]; i++) s += String.fromCharCode(u[i]);
    return s;
  };
  const mp = put(modelBytes);
  if (e.bw_load(mp, modelBytes.byteLength) !== 0) throw new Error('bw_load: ' + errText());
  e.free(mp);
  const bufs = {};
  return {
    exports: e,
    flops: e.bw_flops(),
    memoryBytes: () => e.memory.buffer.byteLength,
    setScalar: (s) => e.bw_set_scalar(s ? 1 : 0),
    // x: Float32Array [n*D], t: Float32Array [n], y: Int32Array [n] -> Float32Array [n*D]
    prepare(n, x, t, y) {
      const px = put(x), pt = put(t), py = put(y), po = e.malloc(x.byteLength);
      bufs[n] = { px, pt, py, po, len: x.length };
      return bufs[n];
    },
    run(n) {
      const b = bufs[n];
      const rc = e.bw_forward(n, b.px, b.pt, b.py, b.po);
      if (rc !== 0) throw new Error('bw_forward: ' + errText());
    },
    output(n) {
      const b = bufs[n];
      return new Float32Array(heap(), b.po, b.len).slice();
    },
    sample(sampler, steps, batch, cls, seed, D) {
      const po = e.malloc(4 * batch * D);
      const rc = e.bw_sample(sampler, steps, batch, cls, seed, po);
      if (rc !== 0) throw new Error('bw_sample: ' + errText());
      const out = new Float32Array(heap(), po, batch * D).slice();
      e.free(po);
      return out;
    },
    peak(iters) { return e.bw_peak(iters, 1.0000001, 1e-7); },
  };
}

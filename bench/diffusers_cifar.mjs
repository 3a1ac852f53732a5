// The paper's CIFAR-10 network as a diffusers UNet2DModel (random weights, training/diffusers_random.py) in one
// Node process: this engine's wasm (1 thread; and the threaded module on 1 and 2 worker threads) vs onnxruntime-web's
// wasm EP (1 and 2 threads) on the same weights
// (the ONNX graph is exported from training/diffusers_unet.py, the PyTorch reference), batch 1 and 8, with every
// output cross-checked against PyTorch's (reference.safetensors, written by training/export_onnx_diffusers.py).
//   node bench/diffusers_cifar.mjs DIR [--rounds 5] [--json OUT.json]
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { Engine } from '../web/ddpm.js';
import { readSafetensors } from './tfjs_unet.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const dir = args[0];
const ROUNDS = +opt('--rounds', 5);
const median = (a) => { const s = [...a].sort((p, q) => p - q); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const maxAbs = (a, b) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
const ref = readSafetensors(join(dir, 'reference.safetensors')).tensors;
const results = { rounds: ROUNDS, ours: {}, ort: {} };

async function time(fn) {
  await fn(); // warm-up
  const ms = [];
  for (let r = 0; r < ROUNDS; r++) { const t0 = performance.now(); await fn(); ms.push(performance.now() - t0); }
  return median(ms);
}

const engine = await Engine.load();
const t0 = performance.now();
const model = await engine.loadModel({ weights: join(dir, 'diffusion_pytorch_model.safetensors'), config: join(dir, 'config.json') });
const loadMs = performance.now() - t0;
console.log(`ours: loaded in ${(loadMs / 1000).toFixed(2)} s, ${model.config.params} parameters, wasm heap in use ` +
  `${(engine.memory().inUseBytes / 2 ** 20).toFixed(0)} MiB, backend ${engine.simdBackend ?? ''}`);
for (const n of [1, 8]) {
  const x = ref[`x_b${n}`].data, t = Array.from(ref[`t_b${n}`].data);
  let out;
  const ms = await time(() => { out = model.eps(x, t); });
  const err = maxAbs(out, ref[`eps_b${n}`].data);
  results.ours[`b${n}`] = { ms, perImage: ms / n, maxAbsVsTorch: err };
  console.log(`ours wasm, 1 thread, batch ${n}: ${ms.toFixed(1)} ms per call (${(ms / n).toFixed(1)} per image), ` +
    `max |ours - torch| ${err.toExponential(2)}`);
}
model.dispose?.();

// the threaded module (ddpm-threads.wasm, web/lib/threads.js): one forward pass split across worker threads. The
// 1- and 2-thread models are timed in alternation, round by round, so that a noisy machine slows both alike.
const tengine = await Engine.load(undefined, { threads: true });
const load = () => tengine.loadModel({ weights: join(dir, 'diffusion_pytorch_model.safetensors'), config: join(dir, 'config.json') });
const tmodels = { 1: await load(), 2: await load() };
await tmodels[1].setThreads(1);
await tmodels[2].setThreads(2);
results.oursThreads = {};
for (const n of [1, 8]) {
  const x = ref[`x_b${n}`].data, t = Array.from(ref[`t_b${n}`].data);
  const ms = { 1: [], 2: [] }, outs = {};
  for (const th of [1, 2]) outs[th] = tmodels[th].forward(x, t); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const th of [1, 2]) {
      const t0 = performance.now();
      outs[th] = tmodels[th].forward(x, t);
      ms[th].push(performance.now() - t0);
    }
  }
  for (const th of [1, 2]) {
    const m = median(ms[th]), err = maxAbs(outs[th], ref[`eps_b${n}`].data);
    results.oursThreads[`t${th}_b${n}`] = { ms: m, perImage: m / n, maxAbsVsTorch: err };
    console.log(`ours wasm threaded, ${th} thread(s), batch ${n}: ${m.toFixed(1)} ms per call (${(m / n).toFixed(1)} per image), ` +
      `max |ours - torch| ${err.toExponential(2)}`);
  }
  const ratios = ms[1].map((v, i) => v / ms[2][i]);
  results.oursThreads[`speedup_b${n}`] = median(ratios);
  console.log(`  2 vs 1 thread, batch ${n}: median of the per-round ratios ${median(ratios).toFixed(2)}x ` +
    `(rounds: ${ratios.map((v) => v.toFixed(2)).join(' ')})`);
}
for (const th of [1, 2]) { tmodels[th].dispose(); await tmodels[th].closed; }

const ort = await import('onnxruntime-web');
for (const threads of [1, 2]) {
  ort.env.wasm.numThreads = threads;
  const sess = await ort.InferenceSession.create(join(dir, 'model.onnx'), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  for (const n of [1, 8]) {
    const x = ref[`x_b${n}`], t = ref[`t_b${n}`];
    const feeds = { x: new ort.Tensor('float32', x.data, x.shape), t: new ort.Tensor('float32', t.data, t.shape) };
    let out;
    const ms = await time(async () => { out = await sess.run(feeds); });
    const err = maxAbs(out.eps.data, ref[`eps_b${n}`].data);
    results.ort[`t${threads}_b${n}`] = { ms, perImage: ms / n, maxAbsVsTorch: err };
    console.log(`onnxruntime-web ${ort.env.versions?.web ?? ''} wasm, ${threads} thread(s), batch ${n}: ${ms.toFixed(1)} ms per call ` +
      `(${(ms / n).toFixed(1)} per image), max |ort - torch| ${err.toExponential(2)}`);
  }
  await sess.release?.();
}
for (const n of [1, 8])
  for (const th of [1, 2])
    console.log(`ours (1 thread) vs onnxruntime-web (${th} thread${th > 1 ? 's' : ''}), batch ${n}: ` +
      `${(results.ort[`t${th}_b${n}`].perImage / results.ours[`b${n}`].perImage).toFixed(2)}x faster`);
for (const n of [1, 8]) {
  const o = (th) => results.oursThreads[`t${th}_b${n}`].perImage, r = (th) => results.ort[`t${th}_b${n}`].perImage;
  console.log(`batch ${n}: ours 1 thread vs onnxruntime-web 1 thread ${(r(1) / o(1)).toFixed(2)}x faster; ours 2 threads vs ` +
    `onnxruntime-web 2 threads ${(r(2) / o(2)).toFixed(2)}x; ours 2 threads vs ours 1 thread ${(o(1) / o(2)).toFixed(2)}x`);
}
if (opt('--json')) writeFileSync(opt('--json'), JSON.stringify(results, null, 1));

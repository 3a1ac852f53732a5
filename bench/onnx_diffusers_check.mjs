// Runs the ONNX export of a diffusers UNet2DModel (training/export_onnx_diffusers.py) in onnxruntime-web (wasm EP)
// and compares it with the PyTorch reference written next to it, at batch 1 and 8.
//   (cd bench && npm install)      # once
//   node bench/onnx_diffusers_check.mjs DIR [--threads 1] [--rounds 3] [--tol 1e-4]
// DIR holds model.onnx and reference.safetensors (x_b1, t_b1, eps_b1, x_b8, t_b8, eps_b8).
// Prints max |ort - torch| and the median ms per forward; exits 1 if an error is above --tol.
import { join } from 'node:path';
import { readSafetensors } from './tfjs_unet.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const dir = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--')));
if (!dir) { console.error('usage: node bench/onnx_diffusers_check.mjs DIR [--threads N] [--rounds N] [--tol X]'); process.exit(2); }
const THREADS = +opt('--threads', 1), ROUNDS = +opt('--rounds', 3), TOL = +opt('--tol', 1e-4);
const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = THREADS;
const ref = readSafetensors(join(dir, 'reference.safetensors')).tensors;
const sess = await ort.InferenceSession.create(join(dir, 'model.onnx'), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
const median = (a) => { const s = [...a].sort((p, q) => p - q); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
let worst = 0;
for (const n of [1, 8]) {
  const x = ref[`x_b${n}`], t = ref[`t_b${n}`], e = ref[`eps_b${n}`];
  const feeds = { x: new ort.Tensor('float32', x.data, x.shape), t: new ort.Tensor('float32', t.data, t.shape) };
  let out = await sess.run(feeds);
  const ms = [];
  for (let r = 0; r < ROUNDS; r++) { const t0 = performance.now(); out = await sess.run(feeds); ms.push(performance.now() - t0); }
  const got = out.eps.data;
  let err = 0;
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - e.data[i]));
  worst = Math.max(worst, err);
  console.log(`batch ${n}: eps ${JSON.stringify(out.eps.dims)}, max |ort - torch| ${err.toExponential(3)}, ` +
    `${median(ms).toFixed(1)} ms median of ${ROUNDS} (${THREADS} thread${THREADS > 1 ? 's' : ''})`);
}
console.log(worst <= TOL ? `OK (worst ${worst.toExponential(3)} <= ${TOL})` : `FAIL (worst ${worst.toExponential(3)} > ${TOL})`);
process.exit(worst <= TOL ? 0 : 1);

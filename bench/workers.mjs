// Throughput of one vs two workers sampling the same batch with the product API (web/ddpm.js), split by firstImage
// exactly as the demo's worker pool (web/pool.js) does -- even on the first run, then in proportion to each worker's
// measured speed (splitBatch) -- and a check that the assembled images are bit-identical.
//   node bench/workers.mjs [MODEL] [--batch 16] [--steps 20] [--reps 5]
//
// Measured the way the demo runs: the main thread compiles ddpm.wasm once and hands the compiled Module to
// long-lived workers; each worker loads the model and runs one short warm-up sample (so V8's optimizing tier and the
// engine's scratch buffers are ready) before anything is timed. Then 1-worker and 2-worker runs alternate `reps`
// times and the medians are compared. Run it on an otherwise idle machine: two workers need two free cores.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { splitBatch } from '../web/pool.js';

const HERE = fileURLToPath(import.meta.url);

if (!isMainThread) {
  const { Engine } = await import('../web/ddpm.js');
  const engine = await Engine.load(workerData.wasm);
  const model = await engine.loadModel(workerData.model);
  await model.sample({ ...workerData.warmup });
  parentPort.postMessage({ ready: true });
  parentPort.on('message', async (job) => {
    const t0 = performance.now();
    const r = await model.sample(job);
    parentPort.postMessage({ images: r.images, ms: performance.now() - t0 }, [r.images.buffer]);
  });
} else {
  const args = process.argv.slice(2);
  const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
  const model = args.find((a) => a.endsWith('.safetensors')) ??
    fileURLToPath(new URL('../models/fmnist-cond.i8.safetensors', import.meta.url));
  const batch = +opt('--batch', 16), steps = +opt('--steps', 20), reps = +opt('--reps', 5);
  const base = { seed: 42, sampler: 'ddim', steps, classLabel: 7, guidance: 2 };
  const wasm = await WebAssembly.compile(readFileSync(new URL('../web/dist/ddpm.wasm', import.meta.url)));
  const warmup = { ...base, steps: 2, batch: Math.min(batch, 8) };

  const workers = await Promise.all([0, 1].map(() => new Promise((res, rej) => {
    const w = new Worker(HERE, { workerData: { wasm, model, warmup } });
    w.once('message', () => res(w));
    w.once('error', rej);
  })));

  // One timed run on the first n workers, split as web/pool.js splits (rates: images x steps per ms, as it keeps them).
  const rates = [0, 0];
  async function run(n) {
    const parts = splitBatch(batch, n, n > 1 && rates.every((r) => r > 0) ? rates : null);
    const t0 = performance.now();
    const res = await Promise.all(parts.map((p, j) => new Promise((resolve) => {
      workers[j].once('message', (m) => resolve(m));
      workers[j].postMessage({ ...base, batch: p.count, firstImage: p.start });
    })));
    const ms = performance.now() - t0;
    if (n > 1) res.forEach((m, j) => {
      const r = (parts[j].count * steps) / m.ms;
      rates[j] = rates[j] ? 0.5 * (rates[j] + r) : r;
    });
    const all = new Float32Array(res.reduce((s, p) => s + p.images.length, 0));
    let o = 0;
    for (const p of res) { all.set(p.images, o); o += p.images.length; }
    return { ms, inner: res.map((p) => p.ms), split: parts.map((p) => p.count),
      hash: createHash('sha256').update(new Uint8Array(all.buffer)).digest('hex') };
  }

  const one = [], two = [];
  for (let r = 0; r < reps; r++) {
    one.push(await run(1));
    two.push(await run(2));
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
  const t1 = median(one.map((r) => r.ms)), t2 = median(two.map((r) => r.ms));
  const hashes = new Set([...one, ...two].map((r) => r.hash));
  const ratios = one.map((r, i) => (r.ms / two[i].ms).toFixed(2)).join(' ');
  if (args.includes("--verbose")) for (let i = 0; i < reps; i++) console.log(`run ${i}: 1 worker ${one[i].inner.map((v) => v.toFixed(0))} ms, 2 workers ${two[i].inner.map((v) => v.toFixed(0)).join(" + ")} ms (images ${two[i].split.join(" + ")})`);
  console.log(`batch ${batch}, DDIM ${steps} steps with guidance, ${reps} alternating runs (medians): ` +
    `1 worker ${t1.toFixed(0)} ms (${(batch / t1 * 1e3).toFixed(1)} images/s), 2 workers ${t2.toFixed(0)} ms ` +
    `(${(batch / t2 * 1e3).toFixed(1)} images/s); throughput ${(t1 / t2).toFixed(2)}x (per run: ${ratios}); ` +
    `images identical: ${hashes.size === 1}`);
  if (hashes.size !== 1) process.exitCode = 1;
}

// Throughput of one vs two workers sampling the same batch with the product API (web/ddpm.js), split by firstImage
// exactly as the demo's worker pool does; checks that the assembled images are bit-identical.
//   node bench/workers.mjs [MODEL] [--batch 16] [--steps 20]
// Run it on an otherwise idle machine: two workers need two free cores.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(import.meta.url);

if (!isMainThread) {
  const { Engine } = await import('../web/ddpm.js');
  const engine = await Engine.load();
  const model = await engine.loadModel(workerData.model);
  parentPort.postMessage({ ready: true });
  parentPort.once('message', async (job) => {
    const r = await model.sample(job);
    parentPort.postMessage({ images: r.images }, [r.images.buffer]);
  });
} else {
  const args = process.argv.slice(2);
  const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
  const model = args.find((a) => a.endsWith('.safetensors')) ?? new URL('../models/fmnist-cond.i8.safetensors', import.meta.url).pathname;
  const batch = +opt('--batch', 16), steps = +opt('--steps', 20);
  const base = { seed: 42, sampler: 'ddim', steps, classLabel: 7, guidance: 2 };

  async function run(nWorkers) {
    const workers = await Promise.all(Array.from({ length: nWorkers }, () => new Promise((res) => {
      const w = new Worker(HERE, { workerData: { model } });
      w.once('message', () => res(w));
    })));
    const per = Math.ceil(batch / nWorkers);
    const t0 = performance.now();
    const parts = await Promise.all(workers.map((w, j) => new Promise((res) => {
      const first = j * per, n = Math.min(per, batch - first);
      w.once('message', (m) => res(m.images));
      w.postMessage({ ...base, batch: n, firstImage: first });
    })));
    const ms = performance.now() - t0;
    await Promise.all(workers.map((w) => w.terminate()));
    const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    return { ms, hash: createHash('sha256').update(new Uint8Array(all.buffer)).digest('hex') };
  }

  const one = await run(1), two = await run(2);
  const one2 = await run(1), two2 = await run(2); // alternate, keep the better of two
  const t1 = Math.min(one.ms, one2.ms), t2 = Math.min(two.ms, two2.ms);
  console.log(`batch ${batch}, DDIM ${steps} steps with guidance: 1 worker ${t1.toFixed(0)} ms, 2 workers ${t2.toFixed(0)} ms, ` +
    `throughput ${(t1 / t2).toFixed(2)}x; images identical: ${one.hash === two.hash && one.hash === one2.hash && two.hash === two2.hash}`);
}

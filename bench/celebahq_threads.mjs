// The 114M-parameter CelebA-HQ 256 network in wasm (the threaded module, Node worker_threads): load with I8 compact
// weights, one forward pass at batch 1 on 1 and 2 threads (the same bits), heap use.
//   /usr/bin/python3 training/diffusers_random.py --config bench/celebahq256.config.json --out bench/out/celebahq256
//   node bench/celebahq_threads.mjs [DIR]     (default DIR: bench/out/celebahq256)
import { Engine } from '../web/ddpm.js';

const dir = process.argv[2] ?? new URL('./out/celebahq256', import.meta.url).pathname;
const mib = (b) => (b / 2 ** 20).toFixed(0);
const e = await Engine.load(undefined, { threads: true });
const t0 = performance.now();
const m = await e.loadModel(dir, { quantize: 'i8', compact: true });
const mem = () => `${mib(e.memory().inUseBytes)} MiB in use, ${mib(e.memory().heapBytes)} MiB of linear memory`;
console.log(`loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${m.config.params} parameters, ${mem()}`);
const D = 3 * 256 * 256, x = Float32Array.from({ length: D }, (_, i) => Math.sin(i * 0.37));
let ref;
for (const th of [1, 2]) {
  await m.setThreads(th);
  const t1 = performance.now();
  const out = m.forward(x, [500]);
  const s = (performance.now() - t1) / 1000;
  ref ??= out;
  console.log(`${th} thread(s): ${s.toFixed(2)} s per evaluation, same bits as 1 thread: ${out.every((v, i) => Object.is(v, ref[i]))}, ${mem()}`);
}
m.dispose();
await m.closed;

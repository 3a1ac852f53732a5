// Peak wasm heap per model and dtype: each configuration loads into a fresh engine (the plain module), runs one
// forward pass at batch 1, and reports model.memory() (the resident weights: float32 arena, compact 3x3 weights,
// precomputed Winograd weights), the heap in use after the pass and the linear memory's size (its peak: wasm memory
// never shrinks), with the evaluation time.
//   /usr/bin/python3 training/diffusers_random.py --preset cifar10 --out bench/out/cifar10
//   /usr/bin/python3 training/diffusers_random.py --config bench/celebahq256.config.json --out bench/out/celebahq256
//   node bench/memory.mjs [--skip-256] [--json OUT]
import { existsSync, writeFileSync } from 'node:fs';
import { Engine } from '../web/ddpm.js';

const out = (p) => new URL(`./out/${p}`, import.meta.url).pathname;
const args = process.argv.slice(2);
const jsonAt = args.includes('--json') ? args[args.indexOf('--json') + 1] : null;
const models = [
  { name: 'fmnist-cond (shipped, 1.6M)', src: new URL('../models/fmnist-cond.i8.safetensors', import.meta.url).pathname, S: 28, C: 1, y: [3] },
  { name: 'CIFAR-10 (35.7M)', src: out('cifar10'), S: 32, C: 3 },
  { name: 'CelebA-HQ 256 (114M)', src: out('celebahq256'), S: 256, C: 3, big: true },
];
const configs = [
  { name: 'as stored', opts: {} },
  { name: 'f16', opts: { quantize: 'f16' } },
  { name: 'i8', opts: { quantize: 'i8' } },
  { name: 'i8 compact', opts: { quantize: 'i8', compact: true } },
  { name: 'i8, budget = 1/2 of i8', opts: { quantize: 'i8' }, budget: 0.5 },
];
const mib = (b) => (b / 2 ** 20).toFixed(1);
const rows = [];
for (const md of models) {
  if (!existsSync(md.src)) { console.log(`(${md.name}: ${md.src} is missing; see the header)`); continue; }
  if (md.big && args.includes('--skip-256')) continue;
  let i8resident = 0;
  for (const c of configs) {
    const e = await Engine.load();
    const opts = { ...c.opts };
    if (c.budget) opts.memoryBudget = Math.floor(c.budget * i8resident);
    let row;
    try {
      const t0 = performance.now();
      const m = await e.loadModel(md.src, opts);
      const loadS = (performance.now() - t0) / 1000;
      const mem = m.memory(), resident = mem.weightBytes + mem.compactBytes + mem.winogradBytes;
      if (c.name === 'i8') i8resident = resident;
      const x = Float32Array.from({ length: md.C * md.S * md.S }, (_, i) => Math.sin(i * 0.37));
      const t1 = performance.now();
      m.forward(x, [500], md.y ?? null);
      const evalS = (performance.now() - t1) / 1000;
      const h = e.memory();
      row = { model: md.name, config: c.name, budgetMiB: opts.memoryBudget ? +mib(opts.memoryBudget) : null,
        residentMiB: +mib(resident), weightsMiB: +mib(mem.weightBytes + mem.compactBytes), winogradMiB: +mib(mem.winogradBytes),
        winograd: `${mem.winogradPrecomputed}/${mem.winogradConvs}`, heapInUseMiB: +mib(h.inUseBytes), peakLinearMiB: +mib(h.heapBytes),
        loadS: +loadS.toFixed(2), evalS: +evalS.toFixed(3) };
      m.dispose();
    } catch (err) {
      row = { model: md.name, config: c.name, error: `${err.code}: ${err.message}` };
    }
    e.dispose();
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
if (jsonAt) writeFileSync(jsonAt, JSON.stringify(rows, null, 1));

// node bench/quick.mjs WASM [rounds]: median ms per image of our forward at batch 1 and 8, and an output hash.
import { readFileSync } from 'node:fs';
import { loadOurs } from './ourwasm.mjs';
const [wasm, rounds = 15] = process.argv.slice(2);
const o = await loadOurs(wasm, readFileSync(new URL('./out/model.i8.safetensors', import.meta.url)));
const D = 784, med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const res = {}, cpu = {1: [], 8: []};
for (const n of [1, 8]) {
  const x = new Float32Array(n * D), t = new Float32Array(n), y = new Int32Array(n);
  for (let i = 0; i < n; i++) { for (let j = 0; j < D; j++) x[i * D + j] = Math.fround(Math.fround(((Math.imul(j + 977 * i, 2654435761 | 0) >>> 0) % 2001) / 1000) - 1); t[i] = 100 + 37 * i; y[i] = i % 11; }
  o.prepare(n, x, t, y); o.run(n); res[n] = [];
}
for (let r = 0; r < +rounds; r++) for (const n of [1, 8]) {
  const reps = n === 1 ? 4 : 1, t0 = performance.now(), c0 = process.cpuUsage();
  for (let k = 0; k < reps; k++) o.run(n);
  res[n].push((performance.now() - t0) / reps / n);
  const c = process.cpuUsage(c0); cpu[n].push((c.user + c.system) / 1e3 / reps / n);
}
// FNV-1a 64 of the batch-8 output bytes: the same "hash all" bench/bench_wasm_forward.c prints natively
let h = 0xcbf29ce484222325n;
for (const v of new Uint8Array(o.output(8).buffer)) h = ((h ^ BigInt(v)) * 0x100000001b3n) & 0xffffffffffffffffn;
const mn = (a) => Math.min(...a);
console.log(`batch 1 med ${med(res[1]).toFixed(2)} min ${mn(res[1]).toFixed(2)} ms, batch 8 med ${med(res[8]).toFixed(2)} min ${mn(res[8]).toFixed(2)} ms/image; cpu med b1 ${med(cpu[1]).toFixed(2)} b8 ${med(cpu[8]).toFixed(2)}, hash ${h.toString(16).padStart(16, '0')}`);

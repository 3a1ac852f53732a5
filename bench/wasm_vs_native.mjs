// Bit-identity of the wasm build and the native build: our wasm forward on a batch of 2 (class 3, t = 250) vs
// `build/ddpm eps` on the same input; prints IDENTICAL or the max |diff|.
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOurs } from './ourwasm.mjs';

const HERE = dirname(fileURLToPath(import.meta.url)), OUT = join(HERE, 'out');
const model = join(OUT, 'model.i8.safetensors');
const o = await loadOurs(join(OUT, 'ddpm_bench.wasm'), readFileSync(model));
const n = 2, D = 784;
const x = new Float32Array(n * D), t = new Float32Array(n).fill(250), y = new Int32Array(n).fill(3);
for (let i = 0; i < n * D; i++) x[i] = Math.fround(Math.sin(i * 0.37));
writeFileSync(join(OUT, 'x.f32'), Buffer.from(x.buffer));
o.prepare(n, x, t, y);
o.run(n);
const w = o.output(n);
execFileSync(join(HERE, '..', 'build', 'ddpm'), ['eps', model, '--in', join(OUT, 'x.f32'), '--t', '250', '--class', '3',
  '--out', join(OUT, 'native_eps.f32')]);
const nat = new Float32Array(readFileSync(join(OUT, 'native_eps.f32')).buffer.slice(0));
const same = Buffer.compare(Buffer.from(w.buffer), Buffer.from(nat.buffer)) === 0;
let mx = 0;
for (let i = 0; i < w.length; i++) mx = Math.max(mx, Math.abs(w[i] - nat[i]));
console.log(same ? 'wasm forward vs native forward: IDENTICAL bits' : `wasm vs native: DIFFERENT, max |diff| ${mx}`);

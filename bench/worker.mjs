// One worker of peers.mjs --workers: loads our wasm and runs `evals` forward passes at batch n.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { loadOurs } from './ourwasm.mjs';

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'out');
const ours = await loadOurs(join(OUT, 'ddpm_bench.wasm'), readFileSync(join(OUT, 'model.i8.safetensors')));
const { evals, n } = workerData, D = 784;
const x = new Float32Array(n * D).map((_, i) => Math.sin(i)), t = new Float32Array(n).fill(500), y = new Int32Array(n);
ours.prepare(n, x, t, y);
ours.run(n);
for (let k = 0; k < evals; k++) ours.run(n);
parentPort.postMessage('done');

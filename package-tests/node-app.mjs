// The Node project of the package tests: `import ... from 'ddpm-wasm'` of the installed tarball, the shipped model
// sampled as the CLI samples it (`ddpm sample MODEL --seed S --batch B --class all --guidance G --steps N`: image k
// gets class k % 10), written as raw float32 and (when the package has it) as the CLI's grid PNG.
//   node node-app.mjs MODEL OUT_PREFIX
import { writeFileSync } from 'node:fs';
import { Engine } from 'ddpm-wasm';

const [model, prefix] = process.argv.slice(2);
const engine = await Engine.load();
const m = await engine.loadModel(model);
const batch = 16;
const r = await m.sample({ seed: 7, batch, classLabel: Array.from({ length: batch }, (_, k) => k % 10), guidance: 2,
  steps: 20 });
writeFileSync(`${prefix}.f32`, Buffer.from(r.images.buffer, r.images.byteOffset, r.images.byteLength));
if (typeof r.png === 'function') writeFileSync(`${prefix}.png`, r.png());
const rgba = r.rgba({ scale: 2 });
writeFileSync(`${prefix}.rgba`, Buffer.from(rgba.data.buffer));
console.log(JSON.stringify({ version: engine.version, png: typeof r.png === 'function' }));

// The page of the package tests: imports the installed package by its name (resolved by Vite, esbuild or an
// import map), samples the shipped model and draws the batch on a canvas. The test reads window.__result.
import { Engine } from 'ddpm-wasm';

async function main() {
  const engine = await Engine.load(globalThis.DDPM_WASM); // undefined: the wasm next to the package's ddpm.js
  const model = await engine.loadModel(new URL('./model.safetensors', location.href).href);
  const r = await model.sample({ seed: 7, batch: 4, classLabel: [0, 1, 2, 3], guidance: 2, steps: 10 });
  const { width, height, data } = r.rgba({ scale: 2 });
  const canvas = document.querySelector('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  ctx.putImageData(new ImageData(data, width, height), 0, 0);
  const drawn = ctx.getImageData(0, 0, width, height).data;
  window.__result = { version: engine.version, images: Array.from(new Uint8Array(r.images.buffer)),
    canvas: Array.from(drawn), width, height };
}
main().catch((e) => { window.__result = { error: String((e && e.message) || e) }; });

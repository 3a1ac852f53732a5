// The embedding API itself: every way of loading the engine and a model, the config, pixels (bytes/RGBA exactly as
// the C core's ddpm_to_u8), image-to-image, several models and interleaved runs in one engine, the heap in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Engine, DdpmError, toRGBA } from '../web/ddpm.js';
import { path, bitwiseEqual, sha256, skipShipped, skipNative, NATIVE_CLI, SHIPPED } from './helpers.mjs';

const WASM = path('web/dist/ddpm.wasm');
const TINY = path('tests/data/tiny-cond.i8.safetensors');
const engine = await Engine.load();

test('Engine.load from the default URL, a path, a file URL, bytes, a Response and a compiled Module', async () => {
  assert.equal(Engine.simdSupported(), true);
  const bytes = readFileSync(WASM);
  const sources = [WASM, pathToFileURL(WASM), pathToFileURL(WASM).href, bytes, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
    new Response(bytes), await WebAssembly.compile(bytes)];
  for (const src of sources) {
    const e = await Engine.load(src);
    assert.equal(e.version, engine.version);
    assert.equal(e.simdBackend, 'wasm-simd128');
    e.dispose();
  }
  assert.match(engine.version, /^\d+\.\d+\.\d+$/);
  await assert.rejects(Engine.load(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99])), (e) => e instanceof DdpmError && e.code === 'UNSUPPORTED');
  await assert.rejects(Engine.load(path('web/dist/missing.wasm')), (e) => e instanceof DdpmError && e.code === 'IO');
  await assert.rejects(Engine.load(new Response('nope', { status: 404 })), (e) => e.code === 'IO' && /404/.test(e.message));
});

test('loadModel from a path, a file URL, an ArrayBuffer, a view with an offset and a Response give the same model', async () => {
  const bytes = readFileSync(TINY);
  const padded = new Uint8Array(bytes.length + 13);
  padded.set(bytes, 13);
  const x = new Float32Array(2 * 144).map((_, i) => Math.sin(i));
  let ref = null;
  for (const src of [TINY, pathToFileURL(TINY), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
    padded.subarray(13), new Response(bytes)]) {
    const m = await engine.loadModel(src);
    const out = m.eps(x, [10, 900], [0, 3]);
    if (ref) assert.ok(bitwiseEqual(out, ref));
    ref = out;
    m.dispose();
  }
});

test('the shipped model\'s config agrees with `ddpm info`', { skip: skipShipped || skipNative }, async () => {
  const m = await engine.loadModel(SHIPPED);
  const c = m.config;
  const info = execFileSync(NATIVE_CLI, ['info', SHIPPED], { encoding: 'utf8' });
  assert.equal(c.params, Number(/parameters\s+(\d+)/.exec(info)[1]));
  assert.equal(c.numClasses, Number(/classes\s+(\d+)/.exec(info)[1]));
  assert.equal(c.imageSize, 28);
  assert.deepEqual(c.channelMult, /channel mult\s+([\d,]+)/.exec(info)[1].split(',').map(Number));
  assert.deepEqual(c.levelChannels, /widths((?: \d+)+)/.exec(info)[1].trim().split(' ').map(Number));
  assert.equal(c.numTimesteps, 1000);
  assert.equal(c.prediction, 'eps');
  assert.equal(c.schedule, 'linear');
  assert.ok(Math.abs(c.flops / 1e9 - Number(/cost\s+([\d.]+) GFLOP/.exec(info)[1])) < 1e-3);
  assert.equal(c.metadata['ddpm.num_classes'], '10');
  m.dispose();
});

test('bytes() and rgba() use exactly ddpm_to_u8', async () => {
  // every float32 in [-1.01, 1.01] near the 255 rounding boundaries, plus specials, through the C function
  const xs = [NaN, -Infinity, Infinity, -2, 2, -1, 1, 0, -0];
  for (let b = 0; b <= 255; b++) {
    const edge = (b + 0.5) / 127.5 - 1;
    let f = Math.fround(edge);
    for (let k = 0; k < 8; k++) f = Math.fround(f - 2 ** -24);
    for (let k = 0; k < 16; k++) { xs.push(f); f = Math.fround(f + 2 ** -24); }
  }
  const input = Float32Array.from(xs);
  const X = engine._x; // internal: the module's exports
  const ip = X.malloc(input.length * 4), op = X.malloc(input.length);
  new Float32Array(X.memory.buffer, ip, input.length).set(input);
  X.ddpm_wasm_to_u8(ip, op, input.length);
  const c = new Uint8Array(X.memory.buffer, op, input.length).slice();
  X.free(ip); X.free(op);
  const img = toRGBA(input, input.length, 1, 1, { cols: input.length, gap: 0 });
  for (let i = 0; i < input.length; i++) assert.equal(img.data[4 * i], c[i], `x = ${input[i]}`);

  const m = await engine.loadModel(TINY);
  const r = await m.sample({ seed: 3, batch: 5, steps: 4, sampler: 'ddim' });
  const bytes = r.bytes();
  assert.equal(bytes.length, 5 * 144);
  const grid = r.rgba({ cols: 3, scale: 2, gap: 2 });
  assert.equal(grid.width, 3 * 24 + 2 * 2);
  assert.equal(grid.height, 2 * 24 + 2);
  // image 4 is in row 1, column 1; its pixel (5, 7) at 2x scale
  const o = ((26 + 7 * 2 + 1) * grid.width + 26 + 5 * 2 + 1) * 4;
  assert.equal(grid.data[o], bytes[4 * 144 + 7 * 12 + 5]);
  assert.equal(grid.data[o + 3], 255);
  assert.equal(grid.data[(24 * grid.width) * 4 + 3], 0, 'gaps are transparent');
  m.dispose();
});

test('image-to-image: bytes and floats, one image or a batch, start at round(strength T) - 1', async () => {
  const m = await engine.loadModel(TINY);
  const grey = new Uint8Array(144).map((_, i) => (i * 7) % 256);
  const rgba = new Uint8Array(144 * 4).map((_, i) => (i % 4 === 3 ? 255 : grey[i >> 2]));
  const f = Float32Array.from(grey, (b) => b / 127.5 - 1);
  const batchF = new Float32Array(3 * 144);
  for (let k = 0; k < 3; k++) batchF.set(f, k * 144);
  const o = { seed: 5, batch: 3, steps: 50, sampler: 'ddim', strength: 0.3 };
  const hashes = [];
  for (const init of [grey, rgba, f, batchF]) {
    const it = m.steps({ ...o, init });
    const first = await it.next();
    assert.equal(first.value.numSteps, 15); // the 50-step grid (0, 20, ..., 980) cut at t <= 299
    assert.equal(first.value.t, 280);
    for await (const _ of it);
    hashes.push(sha256((await it.result).images));
  }
  assert.equal(new Set(hashes).size, 1);
  const noInit = await m.sample(o);
  assert.notEqual(sha256(noInit.images), hashes[0]);
  m.dispose();
});

test('several models and interleaved runs in one engine give the same bytes as one at a time', async () => {
  const a = await engine.loadModel(TINY), b = await engine.loadModel(path('tests/data/tiny-uncond.f16.safetensors'));
  const oa = { seed: 1, batch: 2, steps: 20, classLabel: 1, guidance: 2 }, ob = { seed: 2, batch: 2, steps: 25, sampler: 'heun' };
  const alone = [sha256((await a.sample(oa)).images), sha256((await b.sample(ob)).images)];
  const together = await Promise.all([a.sample(oa), b.sample(ob), a.sample(oa)]);
  assert.deepEqual(together.map((r) => sha256(r.images)), [alone[0], alone[1], alone[0]]);
  a.dispose(); b.dispose();
});

test('heap while sampling a batch of 16 with the shipped model (informational, bounded)', { skip: skipShipped }, async (t) => {
  const m = await engine.loadModel(SHIPPED);
  let peak = 0;
  await m.sample({ seed: 1, batch: 16, steps: 2, sampler: 'ddim', classLabel: 4, guidance: 3,
    onStep: () => { peak = Math.max(peak, engine.memory().inUseBytes); } });
  const mem = engine.memory();
  t.diagnostic(`batch 16 with guidance (32 images per U-Net call): ${(peak / 2 ** 20).toFixed(1)} MiB in use, linear memory ${(mem.heapBytes / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(mem.heapBytes < 512 * 2 ** 20);
  m.dispose();
});

test('a disposed engine refuses calls', async () => {
  const e = await Engine.load();
  const m = await e.loadModel(TINY);
  e.dispose();
  assert.throws(() => e.samplers(), (err) => err.code === 'STATE');
  assert.throws(() => m.eps(new Float32Array(144), 1), (err) => err.code === 'STATE');
  await assert.rejects(e.loadModel(TINY), (err) => err.code === 'STATE');
});

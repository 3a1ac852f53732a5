// Loading diffusers models from a hub repo ('hf:OWNER/REPO[@REV]'), a folder URL, a local folder and picked files,
// through the mock hub (wasm-tests/mock-hub.mjs, 127.0.0.1): the same eps as the local files bit for bit, progress
// events, the pipeline layout, the fp16 variant (a true diffusers F16 file written here), the Cache API (a small
// in-memory stand-in: Node has none), abort, and every error with its DdpmError code and the URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, mkdirSync, writeFileSync, copyFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, DdpmError, resolveModel } from '../web/ddpm.js';
import { startMockHub } from './mock-hub.mjs';
import { path, bitwiseEqual, maxAbsDiff } from './helpers.mjs';

const SMALL = path('tests/data/diffusers/small-rgb');
const SCHED = path('tests/data/diffusers/sampling');
const WEIGHTS_BYTES = statSync(`${SMALL}/diffusion_pytorch_model.safetensors`).size;
const local = { weights: `${SMALL}/diffusion_pytorch_model.safetensors`, config: `${SMALL}/config.json`,
  scheduler: `${SCHED}/ddpm/scheduler_config.json` };
const X = new Float32Array(2 * 3 * 16 * 16).map((_, i) => Math.sin(0.37 * i));
const T = [3, 640];

let engine, hub, tmp, reference;
before(async () => {
  engine = await Engine.load();
  hub = await startMockHub();
  tmp = mkdtempSync(join(tmpdir(), 'ddpm-hub-test-'));
  reference = await engine.loadModel(local);
});
after(async () => {
  engine.dispose();
  await hub.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** eps of a loaded model on the fixed input, then disposed. */
function epsOf(model) {
  const e = model.eps(X, T);
  model.dispose();
  return e;
}

const requested = (re) => hub.requests.filter((r) => re.test(r.path));

test('hf:test/small-rgb = the local files bit for bit; progress up to Content-Length; weights via a redirect', async () => {
  const events = [];
  const m = await engine.loadModel('hf:test/small-rgb', { hubBase: hub.url, onProgress: (p) => events.push(p) });
  assert.equal(m.config.format, 'diffusers');
  assert.equal(m.config.schedulerConfig, reference.config.schedulerConfig);
  assert.deepEqual(m.config.defaults, { sampler: 'ddpm', spacing: 'leading', stepsOffset: 0,
    samplerOptions: { clip_x0: 1, clip_range: 1, set_alpha_to_one: 1, clip_eps: 0, variance: 0 } });
  const a = await m.sample({ seed: 5, batch: 2, sampler: 'ddim', steps: 4 });
  const b = await reference.sample({ seed: 5, batch: 2, sampler: 'ddim', steps: 4 });
  assert.ok(bitwiseEqual(a.images, b.images), 'samples differ');
  assert.ok(bitwiseEqual(epsOf(m), reference.eps(X, T)), 'eps differ');

  const w = events.filter((p) => p.file === 'diffusion_pytorch_model.safetensors');
  assert.ok(w.length > 4, `${w.length} progress events for the weights`);
  assert.ok(w.every((p) => p.total === WEIGHTS_BYTES), 'total is the Content-Length');
  assert.ok(w.every((p, i) => i === 0 || p.loaded > w[i - 1].loaded), 'loaded increases');
  assert.equal(w.at(-1).loaded, WEIGHTS_BYTES);
  assert.match(w[0].url, new RegExp(`^${hub.url}/test/small-rgb/resolve/main/diffusion_pytorch_model\\.safetensors$`));
  assert.deepEqual(events.map((p) => p.file).filter((f, i, all) => all.indexOf(f) === i),
    ['config.json', 'scheduler_config.json', 'diffusion_pytorch_model.safetensors']);
  assert.ok(requested(/^\/cdn\/test\/small-rgb\/main\/diffusion_pytorch_model\.safetensors$/).length > 0, 'the 302 was followed');
});

test('the same model from a folder URL, a revision, Engine.hubBase, a local folder and picked files', async () => {
  const want = reference.eps(X, T);
  const folder = await engine.loadModel(`${hub.url}/test/small-rgb/resolve/main/`);
  assert.ok(bitwiseEqual(epsOf(folder), want), 'folder URL');
  const saved = Engine.hubBase;
  assert.equal(saved, 'https://huggingface.co');
  Engine.hubBase = hub.url;
  try {
    assert.ok(bitwiseEqual(epsOf(await engine.loadModel('hf:test/small-rgb@v1.0')), want), 'revision, global hub base');
  } finally {
    Engine.hubBase = saved;
  }
  assert.ok(requested(/^\/test\/small-rgb\/resolve\/v1\.0\/config\.json$/).length === 1);
  // A local folder (it has no scheduler_config.json: DDPMScheduler defaults; eps does not depend on them).
  assert.ok(bitwiseEqual(epsOf(await engine.loadModel(`${SMALL}/`)), want), 'local folder');
  // What a page gets from <input type=file webkitdirectory> or a dropped folder: Blobs by path.
  const blob = (f) => new Blob([readFileSync(f)]);
  const files = new Map([['small-rgb/config.json', blob(`${SMALL}/config.json`)],
    ['small-rgb/model.safetensors', blob(local.weights)], ['small-rgb/scheduler_config.json', blob(local.scheduler)]]);
  const r = await resolveModel(files);
  assert.equal(r.where, 'small-rgb/');
  assert.ok(bitwiseEqual(epsOf(await engine.loadModel(files)), want), 'picked files');
  // One weights file alone is this project's single-file format.
  const exported = reference.export('f32');
  const single = await engine.loadModel([new File([exported], 'mine.safetensors')]);
  assert.ok(bitwiseEqual(epsOf(single), want), 'a lone exported file');
});

test('the pipeline layouts: model_index.json with unet/ and scheduler/ (DDIM), or flat', async () => {
  const m = await engine.loadModel('hf:test/pipeline', { hubBase: hub.url });
  assert.equal(m.config.defaults.sampler, 'ddim');
  assert.match(m.config.schedulerConfig, /DDIMScheduler/);
  assert.ok(bitwiseEqual(epsOf(m), reference.eps(X, T)));
  assert.ok(requested(/^\/test\/pipeline\/resolve\/main\/unet\/config\.json$/).length === 1);
  assert.ok(requested(/^\/test\/pipeline\/resolve\/main\/scheduler\/scheduler_config\.json$/).length === 1);
  // A flat pipeline (model_index.json beside the unet's files, as google/ddpm-* are): read from the root.
  const flat = await engine.loadModel('hf:test/flat-pipeline', { hubBase: hub.url });
  assert.equal(flat.config.schedulerConfig, reference.config.schedulerConfig);
  assert.ok(bitwiseEqual(epsOf(flat), reference.eps(X, T)));
  assert.deepEqual(requested(/^\/test\/flat-pipeline\/resolve\//).map((r) => `${r.path.split('/main/')[1]} ${r.status}`),
    ['model_index.json 200', 'unet/config.json 404', 'config.json 200', 'scheduler_config.json 200',
      'diffusion_pytorch_model.safetensors 302']);
});

/* F32 -> F16, round to nearest even (subnormals, overflow to infinity). */
const f1 = new Float32Array(1), u1 = new Uint32Array(f1.buffer);
function toHalf(v) {
  f1[0] = v;
  const x = u1[0], sign = (x >>> 16) & 0x8000, exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e, rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    let h = mant >>> shift;
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** A diffusers safetensors file with every F32 tensor stored as F16 (what diffusers' variant="fp16" files are). */
function toF16File(file) {
  const buf = readFileSync(file), n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {}, parts = [];
  let off = 0;
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') { out[name] = v; continue; }
    let data = buf.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]);
    if (v.dtype === 'F32') {
      const f = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
      data = Buffer.from(Uint16Array.from(f, toHalf).buffer);
    }
    out[name] = { dtype: v.dtype === 'F32' ? 'F16' : v.dtype, shape: v.shape, data_offsets: [off, off + data.length] };
    parts.push(data);
    off += data.length;
  }
  let json = JSON.stringify(out);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...parts]);
}

test('variant fp16: the .fp16.safetensors file when the repo has it, else the plain one', async () => {
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(toHalf(65520), 0x7c00);
  assert.equal(toHalf(2 ** -24), 1);
  assert.equal(toHalf(-1 / 3), 0xb555);
  const dir = join(tmp, 'fp16');
  const fp16 = toF16File(local.weights);
  mkdirSync(dir);
  copyFileSync(`${SMALL}/config.json`, join(dir, 'config.json'));
  copyFileSync(local.weights, join(dir, 'diffusion_pytorch_model.safetensors'));
  writeFileSync(join(dir, 'diffusion_pytorch_model.fp16.safetensors'), fp16);
  hub.addRepo('test/fp16', dir);
  const events = [];
  const m = await engine.loadModel('hf:test/fp16', { hubBase: hub.url, variant: 'fp16', onProgress: (p) => events.push(p) });
  assert.ok(events.some((p) => p.file === 'diffusion_pytorch_model.fp16.safetensors'));
  assert.ok(!events.some((p) => p.file === 'diffusion_pytorch_model.safetensors'), 'the F32 file is not downloaded');
  assert.ok(fp16.length < 0.55 * WEIGHTS_BYTES, `${fp16.length} bytes`);
  const e16 = epsOf(m), want = reference.eps(X, T);
  const d = maxAbsDiff(e16, want);
  assert.ok(d > 0 && d < 5e-3, `F16 vs F32 eps max|d| = ${d}`);
  assert.ok(bitwiseEqual(e16, epsOf(await engine.loadModel({ weights: fp16, config: local.config }))), 'same as the file read locally');
  assert.ok(bitwiseEqual(e16, epsOf(await engine.loadModel({ weights: local.weights, config: local.config }, { quantize: 'f16' }))),
    'same as rounding the F32 weights to F16 on load');
  // The variant file may also be this project's single file (Model.export: config embedded, also given here).
  const dir2 = join(tmp, 'fp16-export');
  mkdirSync(dir2);
  copyFileSync(`${SMALL}/config.json`, join(dir2, 'config.json'));
  writeFileSync(join(dir2, 'diffusion_pytorch_model.fp16.safetensors'), reference.export('f16'));
  hub.addRepo('test/fp16-export', dir2);
  assert.ok(bitwiseEqual(epsOf(await engine.loadModel('hf:test/fp16-export', { hubBase: hub.url, variant: 'fp16' })), e16));
  // small-rgb has no fp16 file: the 404 falls back to the F32 weights.
  assert.ok(bitwiseEqual(epsOf(await engine.loadModel('hf:test/small-rgb', { hubBase: hub.url, variant: 'fp16' })), want));
  assert.ok(requested(/^\/test\/small-rgb\/resolve\/main\/diffusion_pytorch_model\.fp16\.safetensors$/).some((r) => r.status === 404));
});

test('the Cache API keeps each file under its resolve URL; cache: false bypasses it', async () => {
  const store = new Map(), puts = [];
  globalThis.caches = { open: async () => ({
    match: async (url) => (store.has(url) ? new Response(store.get(url).body, { status: store.get(url).status }) : undefined),
    put: (url, res) => {
      const p = res.arrayBuffer().then((b) => { store.set(url, { status: res.status, body: res.status === 404 ? null : b }); });
      puts.push(p);
      return p;
    },
  }) };
  try {
    await engine.loadModel('hf:test/small-rgb', { hubBase: hub.url }).then((m) => m.dispose());
    await Promise.all(puts);
    const base = `${hub.url}/test/small-rgb/resolve/main/`;
    assert.deepEqual([...store.keys()].sort(), ['config.json', 'diffusion_pytorch_model.safetensors', 'model_index.json',
      'scheduler_config.json'].map((f) => base + f));
    assert.equal(store.get(`${base}model_index.json`).status, 404, 'the absence of model_index.json is kept too');
    const before = hub.requests.length, events = [];
    const m = await engine.loadModel('hf:test/small-rgb', { hubBase: hub.url, onProgress: (p) => events.push(p) });
    assert.ok(bitwiseEqual(epsOf(m), reference.eps(X, T)));
    assert.equal(hub.requests.length, before, 'no request: the model loads offline');
    assert.ok(events.length === 3 && events.every((p) => p.cached && p.loaded === p.total));
    const n = hub.requests.length;
    await engine.loadModel('hf:test/small-rgb', { hubBase: hub.url, cache: false }).then((mm) => mm.dispose());
    assert.ok(hub.requests.length - n >= 4, 'cache: false downloads again');
  } finally {
    delete globalThis.caches;
  }
});

test('an AbortSignal stops a download: ABORTED', async () => {
  const ctl = new AbortController();
  let seen = 0;
  await assert.rejects(engine.loadModel('hf:test/slow', { hubBase: hub.url, signal: ctl.signal, onProgress: (p) => {
    if (p.file.endsWith('.safetensors') && ++seen === 2) ctl.abort(new Error('user pressed stop'));
  } }), (e) => e instanceof DdpmError && e.code === 'ABORTED' && /user pressed stop/.test(e.message) && /test\/slow/.test(e.message));
  assert.equal(seen, 2, 'no progress after the abort');
  await assert.rejects(engine.loadModel('hf:test/small-rgb', { hubBase: hub.url, signal: AbortSignal.abort() }),
    (e) => e.code === 'ABORTED');
});

test('errors: each with its code and the URL', async () => {
  const base = (repo) => `${hub.url}/test/${repo}/resolve/main/`;
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const cases = [
    ['missing', 'IO', [/not found \(HTTP 404\)/, new RegExp(esc(`${base('missing')}config.json`))]],
    ['gated', 'IO', [/forbidden, the repo may be gated or private \(HTTP 403\)/, new RegExp(esc(base('gated')))]],
    ['truncated', 'IO', [new RegExp(`truncated download: got \\d+ of ${WEIGHTS_BYTES} bytes`),
      new RegExp(esc(`${base('truncated')}diffusion_pytorch_model.safetensors`))]],
    ['stable-diffusion', 'UNSUPPORTED', [/StableDiffusionPipeline/, /text-to-image/, /Stable Diffusion/,
      new RegExp(esc(`${base('stable-diffusion')}model_index.json`))]],
    ['sd-unet', 'UNSUPPORTED', [/UNet2DConditionModel/, /text-to-image/, new RegExp(esc(`${base('sd-unet')}config.json`))]],
    ['bin-only', 'UNSUPPORTED', [/training\/bin_to_safetensors\.py/, new RegExp(esc(`${base('bin-only')}diffusion_pytorch_model.bin`))]],
    ['fourier', 'UNSUPPORTED', [/time_embedding_type/, /fourier/, new RegExp(esc(base('fourier')))]],
  ];
  for (const [repo, code, res] of cases) {
    await assert.rejects(engine.loadModel(`hf:test/${repo}`, { hubBase: hub.url }), (e) => {
      assert.ok(e instanceof DdpmError, String(e));
      assert.equal(e.code, code, `${repo}: ${e.message}`);
      for (const re of res) assert.match(e.message, re, repo);
      return true;
    }, repo);
  }
  assert.equal(requested(/^\/(cdn\/)?test\/sd-unet\/.*safetensors$/).length, 0, 'refused before downloading the weights');
  assert.equal(requested(/^\/(cdn\/)?test\/stable-diffusion\/unet\//).length, 0, 'refused at model_index.json');
  // A server that is not there: fetch's TypeError, explained.
  const closed = await startMockHub();
  const dead = closed.url;
  await closed.close();
  await assert.rejects(engine.loadModel('hf:test/small-rgb', { hubBase: dead }), (e) => e.code === 'IO' &&
    e.message.includes(`${dead}/test/small-rgb/resolve/main/model_index.json`) && /CORS policy .* or the network/.test(e.message));
  for (const bad of ['hf:', 'hf:a/b/c', 'hf:a b/c'])
    await assert.rejects(engine.loadModel(bad, { hubBase: hub.url }), (e) => e.code === 'INVALID_ARGUMENT', bad);
  await assert.rejects(engine.loadModel('hf:test/small-rgb', { hubBase: hub.url, variant: '../x' }),
    (e) => e.code === 'INVALID_ARGUMENT');
  // The engine is still usable after all that.
  assert.ok(bitwiseEqual(epsOf(await engine.loadModel(local)), reference.eps(X, T)));
});

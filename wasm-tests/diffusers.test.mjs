// Hugging Face diffusers UNet2DModel checkpoints in wasm against diffusers' own numbers (tests/data/diffusers/,
// made by diffusers v0.21.4; GOLDENS.md there) and against the native build: eps within 1e-4 of diffusers and bit
// for bit the native CLI's; DDPM / DDIM replays from the recorded x_T and noise (the tolerances of
// tests/test_diffusers.c, which explains the DDIM one); convert round trip; bad configs refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Engine, DdpmError } from '../web/ddpm.js';
import { path, maxAbsDiff, bitwiseEqual, native, skipNative, readSafetensors } from './helpers.mjs';

const DIR = path('tests/data/diffusers');
const engine = await Engine.load();

const readAny = (file) => readSafetensors(file, true);
const f32 = (t) => Float32Array.from(t.data);
const smallRgb = { weights: `${DIR}/small-rgb/diffusion_pytorch_model.safetensors`, config: `${DIR}/small-rgb/config.json` };

test('small-rgb: eps within 1e-4 of diffusers, bit for bit the native CLI', async (t) => {
  const model = await engine.loadModel(smallRgb);
  assert.equal(model.config.format, 'diffusers');
  assert.equal(model.config.params, 1113955);
  assert.deepEqual(model.config.levelChannels, [32, 64, 64]);
  assert.deepEqual(model.config.attention, { downLevels: [1], upLevels: [1], mid: true, headDim: 8 });
  const g = readAny(`${DIR}/small-rgb/golden.safetensors`);
  const x = f32(g.x), ts = Array.from(g.t.data), eps = model.eps(x, ts);
  const d = maxAbsDiff(eps, f32(g.eps));
  t.diagnostic(`eps vs diffusers: max|d| = ${d.toExponential(2)}`);
  assert.ok(d <= 1e-4, `max|d| ${d}`);
  if (!skipNative) {
    const per = x.length / ts.length;
    for (let k = 0; k < ts.length; k++) {
      const nat = native(['eps', `${DIR}/small-rgb`, '--in', '@x.f32', '--t', String(ts[k]), '--out', '@out.f32'],
        { 'x.f32': x.subarray(k * per, (k + 1) * per) });
      assert.ok(bitwiseEqual(nat, eps.subarray(k * per, (k + 1) * per)), `image ${k}: wasm != native`);
    }
  }
  model.setKernels('precise');
  const p = model.eps(x, ts), dp = maxAbsDiff(p, f32(g.eps));
  t.diagnostic(`precise kernels: eps vs diffusers max|d| = ${dp.toExponential(2)}`);
  assert.ok(dp <= 1e-5 && !bitwiseEqual(p, eps), `precise: ${dp}`);
  model.dispose?.();
});

for (const [golden, sched, steps, tol, sampler] of [['ddpm20_leading', 'ddpm', 20, 1e-3, 'ddpm'],
  ['ddim50_eta0', 'ddim', 50, 2.5e-3, 'ddim']]) {
  test(`replay of diffusers' ${golden}: x after every step within ${tol}`, async (t) => {
    const model = await engine.loadModel({ ...smallRgb, scheduler: `${DIR}/sampling/${sched}/scheduler_config.json` });
    assert.equal(model.config.defaults.sampler, sampler);
    assert.deepEqual(model.config.defaults.samplerOptions,
      { clip_x0: 1, clip_range: 1, set_alpha_to_one: 1, clip_eps: 0, variance: 0 });
    const g = readAny(`${DIR}/sampling/${golden}.safetensors`);
    const xs = f32(g.x), per = xs.length / steps;
    let worst = 0, i = 0;
    const it = model.steps({ steps, batch: 2, seed: 0, startX: f32(g.x_T), noise: g.noise ? f32(g.noise) : undefined });
    for await (const s of it) {
      assert.equal(s.t, g.timesteps.data[i]);
      worst = Math.max(worst, maxAbsDiff(s.x, xs.subarray(i * per, (i + 1) * per)));
      i++;
    }
    assert.equal(i, steps);
    t.diagnostic(`worst max|d| over ${steps} steps: ${worst.toExponential(2)}`);
    assert.ok(worst <= tol, `worst ${worst}`);
  });
}

test('Winograd weights on the fly: the same bits as precomputed, less heap', async () => {
  const e = await Engine.load();
  const a = await e.loadModel(smallRgb, { winograd: 'precomputed' });
  const heapA = e.memory().inUseBytes;
  const b = await e.loadModel(smallRgb, { winograd: 'on-the-fly' });
  const heapB = e.memory().inUseBytes - heapA;
  const x = new Float32Array(2 * 768).map((_, i) => Math.cos(i * 0.1));
  assert.ok(bitwiseEqual(a.eps(x, [3, 800]), b.eps(x, [3, 800])));
  assert.ok(heapB < heapA, `on the fly ${heapB} bytes, precomputed ${heapA}`);
  await assert.rejects(e.loadModel(smallRgb, { winograd: 'sometimes' }), (err) => err.code === 'INVALID_ARGUMENT');
  e.dispose?.();
});

test('compact I8 / F16 weights: the same bits as quantize alone, less heap', async () => {
  const x = new Float32Array(2 * 768).map((_, i) => Math.sin(i * 0.3));
  for (const quantize of ['i8', 'f16']) {
    const e1 = await Engine.load(), e2 = await Engine.load();
    const a = await e1.loadModel(smallRgb, { quantize }), b = await e2.loadModel(smallRgb, { quantize, compact: true });
    assert.ok(e2.memory().inUseBytes < e1.memory().inUseBytes / 2, `${quantize}: ${e2.memory().inUseBytes} vs ${e1.memory().inUseBytes}`);
    assert.ok(bitwiseEqual(a.eps(x, [4, 600]), b.eps(x, [4, 600])), quantize);
    e1.dispose?.(); e2.dispose?.();
  }
  await assert.rejects(engine.loadModel(smallRgb, { compact: true }), (err) => err.code === 'INVALID_ARGUMENT');
});

test('convert to I8 in memory and back: the same model as quantize-on-load', async () => {
  const a = await engine.loadModel(smallRgb, { quantize: 'i8' });
  const bytes = a.export('i8');
  const b = await engine.loadModel(bytes);
  assert.equal(b.config.format, 'diffusers');
  assert.ok(bytes.length < 1.3e6, `${bytes.length} bytes`);
  const x = new Float32Array(2 * 768).map((_, i) => Math.sin(i));
  assert.ok(bitwiseEqual(a.eps(x, [5, 700]), b.eps(x, [5, 700])));
});

test('bad diffusers configs are refused with the key named', async () => {
  const cfg = JSON.parse(readFileSync(`${DIR}/small-rgb/config.json`, 'utf8'));
  const cases = [
    [{ ...cfg, time_embedding_type: 'fourier' }, 'UNSUPPORTED', /time_embedding_type/],
    [{ ...cfg, resnet_time_scale_shift: 'scale_shift' }, 'UNSUPPORTED', /resnet_time_scale_shift/],
    [{ ...cfg, down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'] }, 'UNSUPPORTED', /CrossAttnDownBlock2D/],
    [{ ...cfg, _class_name: 'UNet2DConditionModel' }, 'UNSUPPORTED', /text-to-image/],
    [{ ...cfg, sample_size: 1e9 }, 'TOO_LARGE', /sample_size/],
    [{ ...cfg, block_out_channels: [32, 64, 1000000] }, 'TOO_LARGE', /block_out_channels/],
    [{ ...cfg, block_out_channels: [32, 64, 128] }, 'MISSING_TENSOR', /down_blocks\.2\.resnets\.0\.conv_shortcut/],
    [{ ...cfg, in_channels: 4 }, 'SHAPE', /conv_in\.weight: expected shape \[32, 4, 3, 3\], found \[32, 3, 3, 3\]/],
    [{ ...cfg, up_block_types: ['UpBlock2D', 'AttnUpBlock2D'] }, 'CONFIG', /up_block_types/],
    [{ ...cfg, some_new_key: 1 }, 'UNSUPPORTED', /some_new_key/],
  ];
  for (const [c, code, re] of cases) {
    await assert.rejects(engine.loadModel({ weights: smallRgb.weights, config: c }), (e) => {
      assert.ok(e instanceof DdpmError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      return true;
    });
  }
  await assert.rejects(engine.loadModel({ weights: smallRgb.weights, config: '{"sample_size": ' }),
    (e) => e.code === 'FORMAT' && /config\.json/.test(e.message));
  await assert.rejects(engine.loadModel(smallRgb.weights), (e) => e.code === 'CONFIG' && /config\.json/.test(e.message));
});

/* google/ddpm-cifar10-32's network with random weights from this test's own generator, its state dict listed from
 * diffusers' module structure (as tests/test_diffusers_cifar.c does in C, written again here independently). */
function cifarFile() {
  const ch = [128, 256, 256, 256], L = 4, lpb = 2, E = 512, list = [];
  const t = (name, ...shape) => list.push([name, shape]);
  const conv = (p, o, i, k) => { t(`${p}.weight`, o, i, k, k); t(`${p}.bias`, o); };
  const lin = (p, o, i) => { t(`${p}.weight`, o, i); t(`${p}.bias`, o); };
  const norm = (p, c) => { t(`${p}.weight`, c); t(`${p}.bias`, c); };
  const res = (p, i, o) => {
    norm(`${p}.norm1`, i); conv(`${p}.conv1`, o, i, 3); lin(`${p}.time_emb_proj`, o, E); norm(`${p}.norm2`, o);
    conv(`${p}.conv2`, o, o, 3); if (i !== o) conv(`${p}.conv_shortcut`, o, i, 1);
  };
  const attn = (p, c) => { norm(`${p}.group_norm`, c); for (const q of ['query', 'key', 'value', 'proj_attn']) lin(`${p}.${q}`, c, c); };
  conv('conv_in', ch[0], 3, 3); lin('time_embedding.linear_1', E, ch[0]); lin('time_embedding.linear_2', E, E);
  let out = ch[0];
  for (let i = 0; i < L; i++) {
    const inp = out; out = ch[i];
    for (let j = 0; j < lpb; j++) { res(`down_blocks.${i}.resnets.${j}`, j ? out : inp, out); if (i === 1) attn(`down_blocks.${i}.attentions.${j}`, out); }
    if (i < L - 1) conv(`down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
  }
  res('mid_block.resnets.0', ch[3], ch[3]); attn('mid_block.attentions.0', ch[3]); res('mid_block.resnets.1', ch[3], ch[3]);
  let prev = ch[3];
  for (let i = 0; i < L; i++) {
    const o = ch[L - 1 - i], inp = ch[L - 1 - Math.min(i + 1, L - 1)];
    for (let j = 0; j <= lpb; j++) {
      res(`up_blocks.${i}.resnets.${j}`, (j ? o : prev) + (j === lpb ? inp : o), o);
      if (i === 2) attn(`up_blocks.${i}.attentions.${j}`, o);
    }
    if (i < L - 1) conv(`up_blocks.${i}.upsamplers.0.conv`, o, o, 3);
    prev = o;
  }
  norm('conv_norm_out', ch[0]); conv('conv_out', 3, ch[0], 3);
  const header = { __metadata__: { format: 'pt' } };
  let off = 0, params = 0;
  for (const [name, shape] of list) {
    const n = shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape, data_offsets: [off, off + 4 * n] };
    off += 4 * n; params += n;
  }
  let h = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (h.length % 8)) % 8;
  h = Uint8Array.from([...h, ...new Array(pad).fill(32)]);
  const bytes = new Uint8Array(8 + h.length + off);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(h.length), true);
  bytes.set(h, 8);
  const w = new Float32Array(bytes.buffer, 8 + h.length, off / 4);
  let s = 12345, k = 0;
  for (const [name, shape] of list) {
    const n = shape.reduce((a, b) => a * b, 1), fan = shape.length >= 2 ? n / shape[0] : 1;
    const a = name.endsWith('.bias') ? 0.0866 : name.includes('norm') ? 0.1732 : Math.sqrt(3 / fan);
    const base = name.includes('norm') && name.endsWith('.weight') ? 1 : 0;
    for (let i = 0; i < n; i++, k++) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      w[k] = base + a * (((s >>> 8) & 0xffffff) / 8388608 - 1);
    }
  }
  return { bytes, params, tensors: list.length };
}

const CIFAR_CONFIG = {
  _class_name: 'UNet2DModel', act_fn: 'silu', attention_head_dim: null, block_out_channels: [128, 256, 256, 256],
  center_input_sample: false, down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D'],
  downsample_padding: 0, flip_sin_to_cos: false, freq_shift: 1, in_channels: 3, layers_per_block: 2,
  mid_block_scale_factor: 1, norm_eps: 1e-6, norm_num_groups: 32, out_channels: 3, sample_size: 32,
  time_embedding_type: 'positional', up_block_types: ['UpBlock2D', 'UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
};

test('the paper\'s CIFAR-10 network in wasm: 35,746,307 parameters, DDPM and DDIM runs, the native build\'s bits', async (t) => {
  const { bytes, params, tensors } = cifarFile();
  assert.equal(params, 35746307);
  const e = await Engine.load();
  const t0 = performance.now();
  const model = await e.loadModel({ weights: bytes, config: CIFAR_CONFIG });
  const mem = e.memory();
  t.diagnostic(`${tensors} tensors, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; wasm heap ` +
    `${(mem.heapBytes / 2 ** 20).toFixed(0)} MiB, ${(mem.inUseBytes / 2 ** 20).toFixed(0)} MiB in use`);
  assert.equal(model.config.params, 35746307);
  assert.equal(model.config.defaults.sampler, 'ddpm');
  for (const sampler of ['ddpm', 'ddim']) {
    const { images } = await model.sample({ sampler, timesteps: [999, 500, 0], seed: 3, batch: 1 });
    assert.equal(images.length, 3 * 32 * 32);
    assert.ok(images.every((v) => Number.isFinite(v) && v >= -1 && v <= 1), sampler);
  }
  if (!skipNative) {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/ddpm-cifar-`);
    try {
      writeFileSync(`${dir}/diffusion_pytorch_model.safetensors`, bytes);
      writeFileSync(`${dir}/config.json`, JSON.stringify(CIFAR_CONFIG));
      const x = new Float32Array(3072).map((_, i) => Math.cos(i * 0.37));
      const nat = native(['eps', dir, '--in', '@x.f32', '--t', '321', '--out', '@out.f32'], { 'x.f32': x });
      assert.ok(bitwiseEqual(nat, model.eps(x, [321])), 'wasm != native on the CIFAR-10 network');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  e.dispose?.();
});

test('the 2 GiB wasm heap: the CIFAR-10 network loaded until the heap is full fails cleanly with OUT_OF_MEMORY; a memory budget fits more, with the same bits', async (t) => {
  const { bytes } = cifarFile();
  // the file is read one tensor at a time: loading grows the heap by the model, not the model plus the file
  const lean = await Engine.load();
  const heap0 = lean.memory().heapBytes;
  const one = await lean.loadModel({ weights: bytes, config: CIFAR_CONFIG }, { winograd: 'on-the-fly' });
  const grown = lean.memory().heapBytes - heap0, w = one.memory().weightBytes;
  t.diagnostic(`a ${(bytes.length / 2 ** 20).toFixed(0)} MiB file: the heap grew by ${(grown / 2 ** 20).toFixed(0)} MiB for ` +
    `${(w / 2 ** 20).toFixed(0)} MiB of weights`);
  assert.ok(grown < w + bytes.length / 4, 'the heap never held the whole file beside the weights');
  lean.dispose?.();
  const e = await Engine.load();
  const x = new Float32Array(3072).map((_, i) => Math.sin(i * 0.11));
  const base = e.memory().inUseBytes, models = [];
  let failure = null;
  for (let k = 0; k < 8 && !failure; k++) {
    try {
      models.push(await e.loadModel({ weights: bytes, config: CIFAR_CONFIG }));
    } catch (err) {
      failure = err;
    }
  }
  const m0 = models[0].memory();
  t.diagnostic(`${models.length} full loads fit (each: ${(m0.weightBytes / 2 ** 20).toFixed(0)} MiB of weights + ` +
    `${(m0.winogradBytes / 2 ** 20).toFixed(0)} MiB of Winograd weights); the next: ${failure?.message}`);
  assert.ok(failure && models.length >= 1 && models.length < 8, 'the heap filled up');
  assert.equal(failure.code, 'OUT_OF_MEMORY');
  assert.match(failure.message, /cannot allocate|out of memory/);
  const ref = models[0].forward(x, [500]);
  const inUse = e.memory().inUseBytes;
  for (const m of models) m.dispose();
  assert.ok(e.memory().inUseBytes <= base + (inUse - base) / models.length / 4, 'the failed load left nothing behind');
  // The same engine, under a budget of 80 MiB per model: the 3x3 weights held as int8, some Winograd weights
  // precomputed; the same bits as the unbudgeted i8 load, and many more copies fit.
  const i8 = await e.loadModel({ weights: bytes, config: CIFAR_CONFIG }, { quantize: 'i8' });
  const want = i8.forward(x, [500]);
  i8.dispose();
  assert.ok(!want.every((v, i) => v === ref[i]), 'i8 rounds the weights');
  const budget = 80 * 2 ** 20, small = [];
  for (let k = 0; k < models.length + 3; k++) small.push(await e.loadModel({ weights: bytes, config: CIFAR_CONFIG }, { quantize: 'i8', memoryBudget: budget }));
  const mb = small[0].memory();
  t.diagnostic(`with memoryBudget 80 MiB: ${small.length} copies loaded; each ${((mb.weightBytes + mb.compactBytes) / 2 ** 20).toFixed(1)} MiB of weights ` +
    `(compact ${mb.compact}), ${mb.winogradPrecomputed} of ${mb.winogradConvs} convs with ${(mb.winogradBytes / 2 ** 20).toFixed(1)} MiB precomputed`);
  assert.ok(mb.compact && mb.weightBytes + mb.compactBytes + mb.winogradBytes <= budget);
  assert.ok(mb.winogradPrecomputed > 0 && mb.winogradPrecomputed < mb.winogradConvs);
  const got = small[small.length - 1].forward(x, [500]);
  assert.ok(bitwiseEqual(got, want), 'a budgeted load = the unbudgeted i8 load, bit for bit');
  for (const m of small) m.dispose();
  await assert.rejects(e.loadModel({ weights: bytes, config: CIFAR_CONFIG }, { quantize: 'i8', memoryBudget: 2 ** 20 }),
    (err) => err.code === 'TOO_LARGE' && /more than the memory budget of 1048576 bytes/.test(err.message));
  await assert.rejects(e.loadModel({ weights: bytes, config: CIFAR_CONFIG }, { memoryBudget: -1 }), (err) => err.code === 'INVALID_ARGUMENT');
  e.dispose?.();
});

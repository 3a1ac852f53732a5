// Hugging Face diffusers UNet2DModel checkpoints in wasm against diffusers' own numbers (tests/data/diffusers/,
// made by diffusers v0.21.4; GOLDENS.md there) and against the native build: eps within 1e-4 of diffusers and bit
// for bit the native CLI's; DDPM / DDIM replays from the recorded x_T and noise (the tolerances of
// tests/test_diffusers.c, which explains the DDIM one); convert round trip; bad configs refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Engine, DdpmError } from '../web/ddpm.js';
import { path, maxAbsDiff, bitwiseEqual, native, skipNative } from './helpers.mjs';

const DIR = path('tests/data/diffusers');
const engine = await Engine.load();

/** Every tensor of a safetensors file as a Float64Array (F32, F64, I64), read independently of the engine. */
function readAny(file) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, e] = v.data_offsets;
    const bytes = buf.subarray(8 + n + b, 8 + n + e);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const arr = v.dtype === 'F32' ? new Float32Array(ab) : v.dtype === 'F64' ? new Float64Array(ab)
      : Array.from(new BigInt64Array(ab), Number);
    out[name] = { shape: v.shape, data: Float64Array.from(arr) };
  }
  return out;
}

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
  model.dispose?.();
});

for (const [golden, sched, steps, tol, sampler] of [['ddpm20_leading', 'ddpm', 20, 1e-3, 'ddpm'],
  ['ddim50_eta0', 'ddim', 50, 2.5e-3, 'ddim']]) {
  test(`replay of diffusers' ${golden}: x after every step within ${tol}`, async (t) => {
    const model = await engine.loadModel({ ...smallRgb, scheduler: `${DIR}/sampling/${sched}/scheduler_config.json` });
    assert.equal(model.config.defaults.sampler, sampler);
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

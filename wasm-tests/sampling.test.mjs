// Sampling: reproducibility (same seed -> same bytes, across runs and engine instances, and equal to the native
// build), the batch/seed contract (image k of a batch == image k alone; seeds differ), the JS noise stream against
// a float64 Philox + Box-Muller written here from the header's description, and the shipped model's pixel
// statistics against the Fashion-MNIST training set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Engine } from '../web/ddpm.js';
import { path, sha256, bitwiseEqual, maxAbsDiff, native, meanStd, skipNative, skipShipped, SHIPPED } from './helpers.mjs';

const engine = await Engine.load();
const tiny = await engine.loadModel(path('tests/data/tiny-cond.f32.safetensors'));
const shipped = skipShipped ? null : await engine.loadModel(SHIPPED);

test('same seed and options -> the same image hash, run after run and in a second engine', async () => {
  const o = { seed: 1234, batch: 3, sampler: 'ddpm', steps: 100, classLabel: 1, guidance: 2 };
  const h1 = sha256((await tiny.sample(o)).images);
  const h2 = sha256((await tiny.sample(o)).images);
  const e2 = await Engine.load();
  const m2 = await e2.loadModel(path('tests/data/tiny-cond.f32.safetensors'));
  const h3 = sha256((await m2.sample(o)).images);
  e2.dispose();
  assert.equal(h1, h2);
  assert.equal(h1, h3);
});

test('steps() and sample() give the same images; StepInfo is a copy per step', async () => {
  const o = { seed: 77, batch: 2, sampler: 'ddim', steps: 8, samplerOptions: { eta: 0.5 } };
  const ref = await tiny.sample(o);
  const it = tiny.steps(o);
  const seen = [];
  for await (const s of it) seen.push(s);
  const res = await it.result;
  assert.equal(seen.length, 8);
  assert.deepEqual(seen.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(seen.map((s) => s.t), [875, 750, 625, 500, 375, 250, 125, 0]);
  assert.ok(bitwiseEqual(res.images, ref.images));
  assert.ok(bitwiseEqual(seen[7].x, ref.images));
  assert.ok(!bitwiseEqual(seen[0].x, seen[1].x), 'each StepInfo holds its own copy');
  const img = seen[0].rgba('x0', { cols: 2, scale: 2, gap: 1 });
  assert.equal(img.width, 2 * 24 + 1);
  assert.equal(img.height, 24);
  assert.equal(img.data.length, img.width * img.height * 4);
});

test('image k of a batch == image k alone (firstImage = k), bit for bit; different seeds differ', async () => {
  for (const sampler of ['ddpm', 'euler_a']) {
    const o = { seed: 99, sampler, steps: 20, classLabel: 2, guidance: 3 };
    const batch = await tiny.sample({ ...o, batch: 4 });
    const D = batch.images.length / 4;
    for (let k = 0; k < 4; k++) {
      const alone = await tiny.sample({ ...o, batch: 1, firstImage: k });
      assert.ok(bitwiseEqual(alone.images, batch.images.subarray(k * D, (k + 1) * D)), `${sampler}: image ${k}`);
    }
    const other = await tiny.sample({ ...o, seed: 100, batch: 4 });
    for (let k = 0; k < 4; k++)
      assert.ok(maxAbsDiff(other.images.subarray(k * D, (k + 1) * D), batch.images.subarray(k * D, (k + 1) * D)) > 1e-3, `seed 99 vs 100, image ${k}`);
    for (let k = 1; k < 4; k++)
      assert.ok(maxAbsDiff(batch.images.subarray(0, D), batch.images.subarray(k * D, (k + 1) * D)) > 1e-3, `images 0 and ${k} of one batch`);
  }
});

test('wasm sampling equals the native build bit for bit (`ddpm sample --raw`)', { skip: skipNative }, async (t) => {
  const runs = [
    { model: 'tests/data/tiny-cond.i8.safetensors', o: { seed: 5, batch: 3, sampler: 'ddpm', steps: 50, classLabel: 0, guidance: 2.5 } },
    { model: 'tests/data/tiny-uncond.f16.safetensors', o: { seed: 2 ** 40 + 3, batch: 2, sampler: 'dpm2_a', steps: 12, firstImage: 7 } },
    { model: 'tests/data/tiny-cond.f32.safetensors', o: { seed: 11, batch: 2, sampler: 'lms', steps: 15, spacing: 'trailing', samplerOptions: { karras: true } } },
  ];
  for (const { model, o } of runs) {
    const m = await engine.loadModel(path(model));
    const mine = (await m.sample(o)).images;
    m.dispose();
    const args = ['sample', model, '--seed', String(o.seed), '--batch', String(o.batch), '--sampler', o.sampler,
      '--steps', String(o.steps), '--raw', '@out.f32', '--quiet'];
    if (o.classLabel !== undefined) args.push('--class', String(o.classLabel));
    if (o.guidance !== undefined) args.push('--guidance', String(o.guidance));
    if (o.firstImage !== undefined) args.push('--first-image', String(o.firstImage));
    if (o.spacing) args.push('--spacing', o.spacing);
    for (const [k, v] of Object.entries(o.samplerOptions ?? {})) args.push('--opt', `${k}=${v}`);
    const nat = native(args);
    t.diagnostic(`${model} ${o.sampler}: ${bitwiseEqual(mine, nat) ? 'bitwise equal' : `max|d| = ${maxAbsDiff(mine, nat)}`}`);
    assert.ok(bitwiseEqual(mine, nat), `${model} ${o.sampler}: wasm != native`);
  }
});

/* ---- Philox-4x32-10 and Box-Muller in float64, from the description in include/ddpm.h ---- */

function philox(c, k) {
  c = c.slice(); k = k.slice();
  const mulhilo = (a, b) => { const p = BigInt(a) * BigInt(b); return [Number(p >> 32n), Number(p & 0xffffffffn)]; };
  for (let r = 0; r < 10; r++) {
    const [hi0, lo0] = mulhilo(0xD2511F53, c[0]), [hi1, lo1] = mulhilo(0xCD9E8D57, c[2]);
    c = [(hi1 ^ c[1] ^ k[0]) >>> 0, lo1, (hi0 ^ c[3] ^ k[1]) >>> 0, lo0];
    if (r < 9) k = [(k[0] + 0x9E3779B9) >>> 0, (k[1] + 0xBB67AE85) >>> 0];
  }
  return c;
}

test('Philox-4x32-10 reference passes the Random123 known-answer vectors', () => {
  assert.deepEqual(philox([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  const f = 0xffffffff;
  assert.deepEqual(philox([f, f, f, f], [f, f]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  assert.deepEqual(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
});

test('the noise streams (x_T and each step) equal float64 Philox + Box-Muller within 1e-6', async () => {
  const seed = 2 ** 33 + 12345, image = 2, D = 144;
  function ref(step, purpose, n) {
    const out = new Float64Array(n);
    for (let b = 0; b * 4 < n; b++) {
      const r = philox([b, image, step, purpose], [seed % 2 ** 32, Math.floor(seed / 2 ** 32)]);
      for (let h = 0; h < 2; h++) {
        const u = (r[2 * h] + 1) / 2 ** 32, phi = 2 * Math.PI * r[2 * h + 1] / 2 ** 32, rho = Math.sqrt(-2 * Math.log(u));
        if (4 * b + 2 * h < n) out[4 * b + 2 * h] = rho * Math.cos(phi);
        if (4 * b + 2 * h + 1 < n) out[4 * b + 2 * h + 1] = rho * Math.sin(phi);
      }
    }
    return out;
  }
  // x_T: before the first step, StepInfo-free: the run's x at creation is visible as step 0's input, so use a
  // JS sampler that records x at step 0 and the step noise the context hands it.
  const seenX = [], seenNoise = [];
  engine.registerSampler({ apiVersion: 2, name: 'probe_noise', step(s, ctx, i, x) {
    if (i === 0) seenX.push(x.slice());
    seenNoise.push(ctx.noise(i, 3));
  } });
  try {
    await tiny.sample({ seed, batch: 3, sampler: 'probe_noise', steps: 2 });
  } finally {
    engine.unregisterSampler('probe_noise');
  }
  const xT = seenX[0].subarray(image * D, (image + 1) * D);
  assert.ok(maxAbsDiff(xT, ref(0, 0, D)) <= 1e-6, `x_T max|d| = ${maxAbsDiff(xT, ref(0, 0, D))}`);
  const z = seenNoise[1].subarray(image * D, (image + 1) * D);
  const d = maxAbsDiff(z, ref(1, 1 + 256 * 3, D));
  assert.ok(d <= 1e-6, `step noise max|d| = ${d}`);
});

/* ---- the shipped model against the training set ---- */

function trainingStats() {
  const f = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz';
  if (!existsSync(f)) return { mean: 0.286 * 2 - 1, std: 0.353 * 2, source: 'published Fashion-MNIST statistics' };
  const raw = gunzipSync(readFileSync(f)).subarray(16);
  let s = 0, s2 = 0;
  for (const b of raw) { const v = b / 127.5 - 1; s += v; s2 += v * v; }
  const mean = s / raw.length;
  return { mean, std: Math.sqrt(s2 / raw.length - mean * mean), source: f };
}

// A checkpoint whose metadata calls itself provisional (an early one, shipped while training runs) is not expected to
// draw Fashion-MNIST yet: the test still runs and prints its numbers, but as a todo (reported, not failing).
const provisional = shipped && /provisional/i.test(shipped.config.metadata['ddpm.note'] ?? '')
  ? `provisional checkpoint (${shipped.config.metadata['ddpm.train_steps'] ?? '?'} training steps): band not enforced` : false;

test('shipped model: DDPM samples have the training set\'s pixel mean and std (within a band)', { skip: skipShipped, todo: provisional, timeout: 150000 }, async (t) => {
  const ref = trainingStats();
  // DDPM ancestral sampling (Algorithm 2) on a 50-step strided grid of the 1000 timesteps, null class (the
  // model's unconditional distribution = all ten classes), 16 images.
  const r = await shipped.sample({ seed: 2024, batch: 16, sampler: 'ddpm', steps: 50, classLabel: null });
  const { mean, std } = meanStd(r.images);
  t.diagnostic(`samples: mean ${mean.toFixed(3)}, std ${std.toFixed(3)}; training set (${ref.source}): mean ${ref.mean.toFixed(3)}, std ${ref.std.toFixed(3)}`);
  // Band: per-image means of Fashion-MNIST spread with a standard deviation of about 0.33 (in [-1, 1] units;
  // sandals are mostly black, pullovers mostly bright), so the mean of 16 images has a standard error of about
  // 0.08; +-0.25 is three standard errors. The pooled std moves less; +-0.15 also allows a 50-step sampler to be
  // a little smoother than the data. A broken model, a wrong scale (e.g. [0, 1] output) or noise left in the
  // samples (std near 1 or above) falls outside.
  assert.ok(Math.abs(mean - ref.mean) <= 0.25, `mean ${mean} vs ${ref.mean}`);
  assert.ok(Math.abs(std - ref.std) <= 0.15, `std ${std} vs ${ref.std}`);
  assert.ok(r.images.every((v) => v > -1.5 && v < 1.5), 'samples stay near [-1, 1]');
});

// Model plugins (engine.wrapModel / engine.run): networks evaluated in JS, sampled by the engine's samplers.
// Dummy models whose answers are known in closed form, a wrapped loaded model that must equal the C path bit for
// bit, per-image labels, the asynchronous-network recipe of lib/net-model.js, and the errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, DdpmError } from '../web/ddpm.js';
import { path, bitwiseEqual, maxAbsDiff } from './helpers.mjs';

const engine = await Engine.load();
const is = (code, re) => (e) => {
  assert.ok(e instanceof DdpmError, `not a DdpmError: ${e}`);
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

// the linear schedule in float64, independently: abar[t] = prod_{s <= t} (1 - beta_s)
function linearAbar(T, b0 = 1e-4, b1 = 0.02) {
  const abar = new Float64Array(T);
  let p = 1;
  for (let t = 0; t < T; t++) {
    p *= 1 - (T === 1 ? b0 : b0 + (t * (b1 - b0)) / (T - 1));
    abar[t] = p;
  }
  return abar;
}

test('a zero-noise model under DDIM (eta 0) ends at x_T / sqrt(abar[t_0]), the closed form', async () => {
  const C = 2, S = 3, D = C * S * S, batch = 2;
  const start = Float32Array.from({ length: batch * D }, (_, i) => Math.sin(i + 1));
  const r = await engine.run({ denoise: (x) => new Float32Array(x.length), channels: C, size: S },
    { sampler: 'ddim', steps: 10, seed: 0, batch, startX: start }).sample();
  const abar = linearAbar(1000), t0 = 900; // leading grid, 10 steps: 900, 800, ..., 0
  const want = Float64Array.from(start, (v) => v / Math.sqrt(abar[t0]));
  const err = maxAbsDiff(r.images, want) / Math.max(...want.map(Math.abs));
  assert.ok(err < 2e-6, `relative error ${err}`);
});

test('custom betas: the schedule the engine builds is cumprod(1 - betas) in float64', async () => {
  const betas = Array.from({ length: 50 }, (_, t) => 0.001 + 0.004 * t);
  const net = engine.wrapModel({ denoise: (x) => x, channels: 1, size: 2, betas });
  const s = net.schedule();
  let p = 1, worst = 0;
  betas.forEach((b, t) => { p *= 1 - b; worst = Math.max(worst, Math.abs(s.alphasCumprod[t] - p) / p); });
  assert.ok(worst < 1e-14, `alphasCumprod relative error ${worst}`);
  assert.equal(net.config.numTimesteps, 50);
  assert.equal(net.config.schedule, 'custom');
  net.dispose();
});

test('a loaded model wrapped as a JS model plugin samples the same bits as the model itself', async () => {
  const m = await engine.loadModel(path('tests/data/tiny-cond.f32.safetensors'));
  const c = m.config;
  const net = engine.wrapModel({
    name: 'wrapped', channels: c.inChannels, size: c.imageSize, numClasses: c.numClasses, prediction: c.prediction,
    schedule: c.schedule, numTimesteps: c.numTimesteps, betaStart: c.betaStart, betaEnd: c.betaEnd,
    denoise: (x, t, labels) => m.eps(x, t, labels && Array.from(labels, (y) => (y < 0 ? c.numClasses : y))),
  });
  for (const opts of [
    { sampler: 'ddpm', steps: 20, seed: 3, batch: 3, classLabel: 1 },
    { sampler: 'dpmpp_2m', steps: 8, seed: 5, batch: 2, classLabel: [0, -1], guidance: 2 },
    { sampler: 'ddim', steps: 6, seed: 9, batch: 2, samplerOptions: { eta: 0.5 } },
  ]) {
    const a = await m.sample(opts), b = await net.sample(opts);
    assert.ok(bitwiseEqual(a.images, b.images), `${opts.sampler}: same bits through the model plugin`);
  }
  net.dispose();
  m.dispose();
});

test('per-image labels reach the JS model as given (-1 = null) and guidance is u + w (c - u) per image', async () => {
  const C = 1, S = 2, D = C * S * S, batch = 4, w = 3;
  const calls = [];
  // output: label + 1 everywhere (0 for the null class)
  const denoise = (x, t, labels) => {
    calls.push(labels && Array.from(labels));
    const n = x.length / D, out = new Float32Array(x.length);
    for (let k = 0; k < n; k++) out.fill(labels ? labels[k] + 1 : 0, k * D, (k + 1) * D);
    return out;
  };
  const seenOut = [];
  engine.registerSampler({ apiVersion: 2, name: 'probe_out', step(s, ctx, i, x) { seenOut.push(ctx.denoise(x, 500)); seenOut.labels = ctx.labels; } });
  try {
    await engine.run({ denoise, channels: C, size: S, numClasses: 5 },
      { sampler: 'probe_out', steps: 1, seed: 1, batch, classLabel: [2, -1, 0, 4], guidance: w }).sample();
    assert.deepEqual(calls, [[2, -1, 0, 4, -1, -1, -1, -1]]); // [cond; uncond] in one call
    assert.deepEqual(seenOut.labels, [2, -1, 0, 4]);
    const want = [2, -1, 0, 4].flatMap((y) => Array(D).fill(y < 0 ? 0 : w * (y + 1)));
    assert.deepEqual(Array.from(seenOut[0]), want);
  } finally {
    engine.unregisterSampler('probe_out');
  }
  await assert.rejects(engine.run({ denoise, channels: C, size: S, numClasses: 5 }, { seed: 1, batch: 2, classLabel: [1] }).sample(),
    is('INVALID_ARGUMENT', /one label per image/));
  await assert.rejects(engine.run({ denoise, channels: C, size: S, numClasses: 5 }, { seed: 1, batch: 2, classLabel: [1, 5] }).sample(),
    is('INVALID_ARGUMENT', /classLabel\[1\] = 5/));
  await assert.rejects(engine.run({ denoise, channels: C, size: S, numClasses: 5 }, { seed: 1, batch: 2, classLabel: [-1, -1], guidance: 2 }).sample(),
    is('INVALID_ARGUMENT', /guidance needs a class label/));
});

test('the asynchronous-network recipe: await the network between steps, denoise() returns the prepared output', async () => {
  const m = await engine.loadModel(path('tests/data/tiny-uncond.f32.safetensors'));
  const c = m.config, steps = 10, opts = { sampler: 'ddim', steps, seed: 8, batch: 2 };
  const asyncNet = async (x, t) => { await new Promise((r) => setTimeout(r, 1)); return m.eps(x, t); };
  let prepared = null;
  const net = engine.wrapModel({
    channels: c.inChannels, size: c.imageSize, schedule: c.schedule, numTimesteps: c.numTimesteps,
    denoise: (x, t) => {
      if (!prepared || prepared.t !== t[0] || !bitwiseEqual(prepared.x, x)) throw new Error('no prepared output for this input');
      return prepared.out;
    },
  });
  const grid = Array.from({ length: steps }, (_, i) => (steps - 1 - i) * (c.numTimesteps / steps));
  const xT = Float32Array.from({ length: 2 * c.inChannels * c.imageSize ** 2 }, (_, i) => Math.cos(i));
  let x = xT;
  const it = net.steps({ ...opts, startX: xT, every: 1 });
  for (let i = 0; i < steps; i++) {
    prepared = { x, t: grid[i], out: await asyncNet(x, grid[i]) };
    const { value } = await it.next();
    x = value.x;
  }
  assert.ok((await it.next()).done);
  const direct = await m.sample({ ...opts, startX: xT });
  assert.ok(bitwiseEqual(x, direct.images), 'the prepared-output loop equals the direct run');
  net.dispose();
  m.dispose();
});

test('errors from a JS model are clear, and nothing stays allocated', async () => {
  const mem = engine.memory().inUseBytes, base = { channels: 1, size: 2 };
  await assert.rejects(engine.run({ ...base, name: 'thrower', denoise() { throw new RangeError('gpu lost'); } }, { seed: 1, steps: 3 }).sample(),
    (e) => is('PLUGIN', /JS model thrower failed in denoise: gpu lost/)(e) && e.cause instanceof RangeError);
  await assert.rejects(engine.run({ ...base, denoise: () => new Float32Array(3) }, { seed: 1, steps: 3 }).sample(), is('SHAPE', /4 numbers/));
  await assert.rejects(engine.run({ ...base, denoise: async (x) => x }, { seed: 1, steps: 3 }).sample(), is('INVALID_ARGUMENT', /synchronous/));
  assert.throws(() => engine.wrapModel({ ...base }), is('INVALID_ARGUMENT', /denoise/));
  assert.throws(() => engine.wrapModel({ ...base, denoise: (x) => x, size: 0 }), is('INVALID_ARGUMENT', /size/));
  assert.throws(() => engine.wrapModel({ ...base, denoise: (x) => x, prediction: 'score' }), is('INVALID_ARGUMENT', /prediction/));
  assert.throws(() => engine.wrapModel({ ...base, denoise: (x) => x, schedule: 'quadratic' }), is('INVALID_ARGUMENT', /schedule/));
  assert.throws(() => engine.wrapModel({ ...base, denoise: (x) => x, betas: [0.1, 1.5] }), is('INVALID_ARGUMENT'));
  assert.throws(() => engine.wrapModel({ ...base, denoise: (x) => x, betaStart: 0.5, betaEnd: 0.1 }), is('INVALID_ARGUMENT'));
  await assert.rejects(engine.run({ ...base, denoise: (x) => x }, { seed: 1, steps: 3, classLabel: 1 }).sample(), is('INVALID_ARGUMENT', /unconditional/));
  // the engine goes on
  const r = await engine.run({ ...base, denoise: (x) => new Float32Array(x.length) }, { seed: 1, steps: 2, sampler: 'ddim' }).sample();
  assert.equal(r.images.length, 4);
  assert.equal(engine.memory().inUseBytes, mem);
});

// Model.qSample, the forward process q(x_t | x_0) (the demo's forward-process view draws it): x_t against the closed
// form in float64 with the paper's linear schedule computed here, eps a standard normal per image that does not
// depend on the batch, and the very noise an image-to-image run of the same seed starts from (a run told to start
// from qSample's x_t gives the same images bit for bit). Bad arguments are refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../web/ddpm.js';
import { SHIPPED, skipShipped, meanStd } from './helpers.mjs';

const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

// A smooth start image in [-1, 1]: [C, S, S]
function image(C, S, phase) {
  const x = new Float32Array(C * S * S);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(0.37 * i + phase) * 0.9;
  return x;
}

test('qSample = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (linear schedule computed in float64 here)', { skip: skipShipped }, async () => {
  const engine = await Engine.load(), m = await engine.loadModel(SHIPPED);
  const { inChannels: C, imageSize: S, numTimesteps: T } = m.config;
  assert.equal(T, 1000);
  const abar = [];
  for (let t = 0, p = 1; t < T; t++) { p *= 1 - (1e-4 + (0.02 - 1e-4) * t / (T - 1)); abar.push(p); }
  const x0 = new Float32Array([...image(C, S, 0), ...image(C, S, 1)]);
  for (const t of [0, 1, 250, 500, 999]) {
    const { xt, eps } = m.qSample(x0, t, { seed: 11 });
    let err = 0;
    for (let i = 0; i < x0.length; i++) {
      const want = Math.sqrt(abar[t]) * x0[i] + Math.sqrt(1 - abar[t]) * eps[i];
      err = Math.max(err, Math.abs(xt[i] - want));
    }
    assert.ok(err < 2e-6, `t = ${t}: |x_t - closed form| = ${err}`);
  }
  const ab = m.schedule().alphasCumprod;
  assert.equal(ab.length, T);
  assert.ok(ab.every((v, t) => Math.abs(v - abar[t]) < 1e-12), 'Model.schedule().alphasCumprod = the closed form');
  // eps: standard normal; image k's noise is the stream (seed, image + k) whatever the batch
  const D = C * S * S;
  const both = m.qSample(x0, 300, { seed: 11 });
  const second = m.qSample(x0.subarray(D), 300, { seed: 11, image: 1 });
  assert.ok(same(both.eps.subarray(D), second.eps) && same(both.xt.subarray(D), second.xt), 'image 1 alone = image 1 of the batch');
  assert.ok(!same(both.eps.subarray(0, D), both.eps.subarray(D)), 'two images, two draws');
  assert.ok(!same(both.eps, m.qSample(x0, 300, { seed: 12 }).eps), 'another seed, other noise');
  assert.ok(same(both.eps, m.qSample(x0, 700, { seed: 11 }).eps), 'the noise does not depend on t');
  const big = m.qSample(new Float32Array(64 * D), 999, { seed: 3 }).eps;
  const { mean, std } = meanStd(big);
  assert.ok(Math.abs(mean) < 0.01 && Math.abs(std - 1) < 0.01, `eps ~ N(0, 1): mean ${mean}, sd ${std}`);
  m.dispose();
  engine.dispose();
});

test('qSample gives the x_t an image-to-image run of the same seed starts from', { skip: skipShipped }, async () => {
  const engine = await Engine.load(), m = await engine.loadModel(SHIPPED);
  const { inChannels: C, imageSize: S } = m.config;
  const init = new Float32Array([...image(C, S, 2), ...image(C, S, 3), ...image(C, S, 4)]);
  const o = { seed: 21, batch: 3, firstImage: 5, classLabel: [1, 2, 3], guidance: 1.5, sampler: 'ddim', steps: 20,
    init, strength: 0.5 };
  const seen = [];
  const ref = await m.sample({ ...o, onStep: (s) => { seen.push(s.t); } });
  // the first step's t: the grid's first timestep (<= round(0.5 T) - 1)
  const t0 = seen[0];
  assert.ok(t0 > 0 && t0 < 500, `image-to-image starts at t = ${t0}`);
  const { xt } = m.qSample(init, t0, { seed: 21, image: 5 });
  const { init: _, strength: __, steps: ___, ...plain } = o;
  const replay = await m.sample({ ...plain, timesteps: seen, startX: xt }); // the same grid, from qSample's x_t
  assert.ok(same(ref.images, replay.images), 'the run started from qSample(init, t0) = the image-to-image run');
  const other = await m.sample({ ...plain, timesteps: seen, startX: m.qSample(init, t0, { seed: 22, image: 5 }).xt });
  assert.ok(!same(ref.images, other.images), 'and from another seed\'s x_t it differs');
  m.dispose();
  engine.dispose();
});

test('qSample refuses bad arguments with a message naming them', { skip: skipShipped }, async () => {
  const engine = await Engine.load(), m = await engine.loadModel(SHIPPED);
  const D = m.config.inChannels * m.config.imageSize ** 2, x = new Float32Array(D);
  const bad = (f, re) => assert.throws(f, (e) => e.code === 'INVALID_ARGUMENT' && re.test(e.message), String(re));
  bad(() => m.qSample(new Float32Array(D + 1), 10), /x0 must be a Float32Array of n \* 784/);
  bad(() => m.qSample([0, 1], 10), /x0 must be a Float32Array/);
  bad(() => m.qSample(x, 1000), /t must be an integer in 0\.\.999, got 1000/);
  bad(() => m.qSample(x, -1), /t must be an integer/);
  bad(() => m.qSample(x, 2.5), /t must be an integer/);
  bad(() => m.qSample(x, 10, { seed: -1 }), /seed/);
  bad(() => m.qSample(x, 10, { image: 2 ** 32 }), /image/);
  const nan = x.slice(); nan[5] = NaN;
  bad(() => m.qSample(nan, 10), /NaN/);
  const before = engine.memory().inUseBytes;
  for (let i = 0; i < 50; i++) m.qSample(x, 10, { seed: i });
  assert.equal(engine.memory().inUseBytes, before, 'no heap left behind');
  m.dispose();
  assert.throws(() => m.qSample(x, 10), (e) => e.code === 'STATE');
  engine.dispose();
});

// JS sampler plugins live in the C registry: listed and chosen like built-ins, the example plugin reproduces the C
// sampler of the same rule, and the registry's errors come back as clear DdpmErrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, DdpmError } from '../web/ddpm.js';
import jsDdim from '../web/plugins/ddim.js';
import { path, maxAbsDiff, bitwiseEqual, skipShipped, SHIPPED } from './helpers.mjs';

const engine = await Engine.load();
const tiny = await engine.loadModel(path('tests/data/tiny-cond.f32.safetensors'));
const names = () => engine.samplers().map((s) => s.name);
const is = (code, re) => (e) => {
  assert.ok(e instanceof DdpmError, `not a DdpmError: ${e}`);
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

test('the example plugin is registered into the C registry and listed like a built-in', () => {
  engine.registerSampler(jsDdim);
  const info = engine.samplers().find((s) => s.name === 'js_ddim');
  assert.equal(info.kind, 'js');
  assert.equal(info.evalsPerStep, 1);
  assert.deepEqual(info.options.map((o) => [o.name, o.type, o.default]), [['eta', 'float', 0], ['clip_x0', 'bool', false]]);
  assert.equal(info.options[0].min, 0);
  assert.equal(info.options[0].max, 1);
  assert.equal(engine.samplers().find((s) => s.name === 'ddim').kind, 'builtin');
});

test('js_ddim reproduces the C ddim sampler (tolerance 1e-6; reported when bitwise)', async (t) => {
  let worst = 0, bitwise = true;
  for (const eta of [0, 0.3, 1])
    for (const clip of [false, true]) {
      const o = { seed: 31, batch: 3, steps: 30, classLabel: 2, guidance: 1.5, samplerOptions: { eta, clip_x0: clip } };
      const c = await tiny.sample({ ...o, sampler: 'ddim' });
      const j = await tiny.sample({ ...o, sampler: 'js_ddim' });
      worst = Math.max(worst, maxAbsDiff(c.images, j.images));
      bitwise &&= bitwiseEqual(c.images, j.images);
    }
  // other grids and a model predicting eps through guidance, and x0 estimates through steps()
  const o = { seed: 8, batch: 2, steps: 17, spacing: 'trailing', samplerOptions: { eta: 0.7 } };
  const cs = [], js = [];
  for await (const s of tiny.steps({ ...o, sampler: 'ddim' })) cs.push(s);
  for await (const s of tiny.steps({ ...o, sampler: 'js_ddim' })) js.push(s);
  assert.equal(cs.length, js.length);
  for (let i = 0; i < cs.length; i++) {
    assert.equal(cs[i].t, js[i].t);
    worst = Math.max(worst, maxAbsDiff(cs[i].x, js[i].x), maxAbsDiff(cs[i].x0, js[i].x0));
    bitwise &&= bitwiseEqual(cs[i].x, js[i].x) && bitwiseEqual(cs[i].x0, js[i].x0);
  }
  t.diagnostic(`js_ddim vs C ddim: max|d| = ${worst}${bitwise ? ' (bitwise equal)' : ''}`);
  assert.ok(worst <= 1e-6, `max|d| = ${worst}`);
});

test('js_ddim on the shipped model matches C ddim, with the memory growing inside the JS step', { skip: skipShipped }, async () => {
  // a fresh engine: its first big forward pass runs from inside the JS sampler (wasm -> JS step -> denoise -> wasm)
  // and grows the linear memory there, which detaches every view made before it
  const e = await Engine.load();
  e.registerSampler(jsDdim);
  const m = await e.loadModel(SHIPPED);
  const heap0 = e.memory().heapBytes;
  const o = { seed: 4, batch: 8, steps: 4, classLabel: 5, guidance: 2, samplerOptions: { eta: 1, clip_x0: true } };
  const j = await m.sample({ ...o, sampler: 'js_ddim' });
  assert.ok(e.memory().heapBytes > heap0, 'the memory grew during the JS-sampled run');
  const c = await m.sample({ ...o, sampler: 'ddim' });
  assert.ok(bitwiseEqual(c.images, j.images), `max|d| = ${maxAbsDiff(c.images, j.images)}`);
  e.dispose();
});

test('the context a JS sampler sees: grid, typed options, schedule in float64', async () => {
  let seen = null;
  engine.registerSampler({
    apiVersion: 2, name: 'probe_ctx', description: 'records its context',
    options: [
      { name: 'mode', type: 'choice', choices: ['a', 'b', 'c'], default: 'b', help: 'a choice' },
      { name: 'flag', type: 'bool', default: true },
      { name: 'k', type: 'int', default: 2, min: 1, max: 9 },
    ],
    create(ctx) { seen = ctx; return { calls: 0 }; },
    step(state, ctx, i, x) { state.calls++; x.fill(i); },
  });
  const info = engine.samplers().find((s) => s.name === 'probe_ctx');
  assert.deepEqual(info.options.map((o) => o.default), ['b', true, 2]);
  assert.deepEqual(info.options[0].choices, ['a', 'b', 'c']);
  const r = await tiny.sample({ seed: 1, batch: 2, steps: 4, sampler: 'probe_ctx', samplerOptions: { mode: 'c', flag: false } });
  assert.ok(r.images.every((v) => v === 3), 'x is written back after each step');
  assert.deepEqual(seen.options, { mode: 'c', flag: false, k: 2 });
  assert.deepEqual(Array.from(seen.timesteps), [750, 500, 250, 0]);
  assert.equal(seen.batch, 2);
  assert.equal(seen.imageElems, 144);
  assert.equal(seen.prediction, 'eps');
  // float64 closed forms of the linear schedule (T = 1000, 1e-4 .. 0.02)
  const T = 1000, s = seen.schedule;
  let abar = 1, worst = 0;
  for (let t = 0; t < T; t++) {
    const beta = 1e-4 + (0.02 - 1e-4) * t / (T - 1);
    const prev = abar;
    abar *= 1 - beta;
    const post = beta * (1 - prev) / (1 - abar);
    for (const [got, want] of [[s.betas[t], beta], [s.alphasCumprod[t], abar], [s.alphasCumprodPrev[t], prev],
      [s.sqrtOneMinusAlphasCumprod[t], Math.sqrt(1 - abar)], [s.posteriorVariance[t], post]])
      worst = Math.max(worst, Math.abs(got - want) / Math.max(Math.abs(want), 1e-300));
  }
  assert.ok(worst <= 1e-12, `schedule relative error ${worst}`);
  engine.unregisterSampler('probe_ctx');
});

test('registry errors are clear DdpmErrors and leave the registry as it was', async () => {
  const before = names();
  assert.throws(() => engine.registerSampler(jsDdim), is('EXISTS', /js_ddim/));
  assert.throws(() => engine.registerSampler({ ...jsDdim, name: 'ddim' }), is('EXISTS', /ddim/));
  assert.throws(() => engine.registerSampler({ ...jsDdim, name: 'v3', apiVersion: 3 }), is('VERSION', /version 3/));
  assert.throws(() => engine.registerSampler({ ...jsDdim, name: 'nov', apiVersion: undefined }), is('VERSION'));
  assert.throws(() => engine.registerSampler({ ...jsDdim, name: 'nostep', step: undefined }), is('INVALID_ARGUMENT', /step/));
  assert.throws(() => engine.registerSampler({ ...jsDdim, name: 'Bad-Name' }), is('INVALID_ARGUMENT', /name/));
  assert.throws(() => engine.registerSampler({ ...jsDdim, name: 'badopt', options: [{ name: 'x', type: 'float', default: 5, min: 0, max: 1 }] }),
    is('INVALID_ARGUMENT', /option/));
  assert.throws(() => engine.registerSampler({ ...jsDdim, name: 'badtype', options: [{ name: 'x', type: 'text' }] }), is('INVALID_ARGUMENT', /type/));
  assert.throws(() => engine.registerSampler(null), is('INVALID_ARGUMENT'));
  assert.deepEqual(names(), before);
  await assert.rejects(tiny.sample({ seed: 1, sampler: 'nostep' }), is('NOT_FOUND', /nostep/));
  assert.throws(() => engine.unregisterSampler('never_registered'), is('NOT_FOUND', /never_registered/));

  // unregistering while a run uses the sampler: BUSY, then fine once the run is gone
  const it = tiny.steps({ seed: 1, steps: 10, sampler: 'js_ddim' });
  await it.next();
  assert.throws(() => engine.unregisterSampler('js_ddim'), is('BUSY', /js_ddim/));
  await it.return();
  engine.unregisterSampler('js_ddim');
  assert.ok(!names().includes('js_ddim'));
  await assert.rejects(tiny.sample({ seed: 1, sampler: 'js_ddim' }), is('NOT_FOUND', /js_ddim/));
  engine.registerSampler(jsDdim); // the name is free again
  assert.ok(names().includes('js_ddim'));
});

test('a plugin that throws fails the run with code PLUGIN and the engine goes on', async () => {
  const mem = engine.memory().inUseBytes;
  const boom = new Error('boom');
  engine.registerSampler({ apiVersion: 2, name: 'bad_step', step(s, ctx, i) { if (i === 2) throw boom; } });
  engine.registerSampler({ apiVersion: 2, name: 'bad_create', create() { throw new RangeError('no state'); }, step() {} });
  await assert.rejects(tiny.sample({ seed: 1, steps: 5, sampler: 'bad_step' }), (e) => is('PLUGIN', /bad_step.*boom/)(e) && e.cause === boom);
  await assert.rejects(tiny.sample({ seed: 1, steps: 5, sampler: 'bad_create' }), is('PLUGIN', /no state/));
  engine.unregisterSampler('bad_step');
  engine.unregisterSampler('bad_create');
  assert.equal(engine.memory().inUseBytes, mem);
  const a = await tiny.sample({ seed: 2, steps: 5, sampler: 'js_ddim' }), b = await tiny.sample({ seed: 2, steps: 5, sampler: 'ddim' });
  assert.ok(bitwiseEqual(a.images, b.images));
});

test('no limit on JS samplers: 100 register, each runs with its own closure, all unregister, memory returns', async () => {
  const before = names(), mem = [];
  for (let round = 0; round < 2; round++) {
    const seen = [];
    for (let k = 0; k < 100; k++)
      engine.registerSampler({ apiVersion: 2, name: `many_${k}`, step(s, ctx, i, x) { seen.push(k); x.fill(k); } });
    assert.equal(names().length, before.length + 100);
    for (const k of [0, 37, 99]) {
      const r = await tiny.sample({ seed: 1, steps: 2, sampler: `many_${k}` });
      assert.ok(r.images.every((v) => v === k), `sampler many_${k} ran its own step`);
    }
    assert.deepEqual(seen, [0, 0, 37, 37, 99, 99]);
    for (let k = 0; k < 100; k++) engine.unregisterSampler(`many_${k}`);
    assert.deepEqual(names(), before);
    mem.push(engine.memory().inUseBytes);
  }
  // the registry's table keeps its grown capacity; nothing per plugin stays behind
  assert.equal(mem[1], mem[0]);
});

test('a JS plugin of API version 1 is still accepted (its JS interface is unchanged)', async () => {
  engine.registerSampler({ ...jsDdim, name: 'js_ddim_v1', apiVersion: 1 });
  const a = await tiny.sample({ seed: 4, steps: 5, sampler: 'js_ddim_v1' }), b = await tiny.sample({ seed: 4, steps: 5, sampler: 'ddim' });
  assert.ok(bitwiseEqual(a.images, b.images));
  engine.unregisterSampler('js_ddim_v1');
});

test('built-ins can be unregistered too (in their own engine)', async () => {
  const e2 = await Engine.load();
  e2.unregisterSampler('plms');
  assert.ok(!e2.samplers().some((s) => s.name === 'plms'));
  const m = await e2.loadModel(path('tests/data/tiny-uncond.f32.safetensors'));
  await assert.rejects(m.sample({ seed: 1, sampler: 'plms' }), is('NOT_FOUND'));
  e2.dispose();
  assert.ok(engine.samplers().some((s) => s.name === 'plms'), 'engines have separate registries');
});

// Stopping runs: an AbortSignal stops a run within one step, every way of stopping frees the run, and 100
// start/abort cycles neither grow the wasm memory nor leave heap blocks behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, DdpmError } from '../web/ddpm.js';
import jsDdim from '../web/plugins/ddim.js';
import { path } from './helpers.mjs';

const engine = await Engine.load();
engine.registerSampler(jsDdim);
const model = await engine.loadModel(path('tests/data/tiny-cond.f32.safetensors'));
const aborted = (e) => e instanceof DdpmError && e.code === 'ABORTED';

test('abort from a timer stops the run within one step', async () => {
  const ac = new AbortController();
  let steps = 0, stepsAtAbort = -1;
  setTimeout(() => { stepsAtAbort = steps; ac.abort(new Error('user pressed stop')); }, 30);
  await assert.rejects(model.sample({ seed: 1, batch: 2, steps: 1000, signal: ac.signal, onStep: (s) => { steps = s.step; } }),
    (e) => aborted(e) && /user pressed stop/.test(e.message));
  assert.ok(stepsAtAbort > 0, 'the timer fired while sampling');
  assert.ok(steps <= stepsAtAbort + 1, `${steps - stepsAtAbort} steps ran after the abort`);
});

test('abort inside onStep: no further step runs', async () => {
  const ac = new AbortController();
  let last = 0;
  await assert.rejects(model.sample({ seed: 2, steps: 50, signal: ac.signal,
    onStep: (s) => { last = s.step; if (s.step === 3) ac.abort(); } }), aborted);
  assert.equal(last, 3);
});

test('an already aborted signal rejects before any step; onStep returning false stops', async () => {
  const ac = new AbortController();
  ac.abort();
  let called = false;
  await assert.rejects(model.sample({ seed: 1, signal: ac.signal, onStep: () => { called = true; } }), aborted);
  assert.equal(called, false);
  let n = 0;
  await assert.rejects(model.sample({ seed: 1, steps: 10, onStep: () => ++n < 4 }), aborted);
  assert.equal(n, 4);
});

test('breaking out of steps() aborts: result rejects with ABORTED', async () => {
  const it = model.steps({ seed: 3, steps: 20 });
  for await (const s of it) if (s.step === 2) break;
  await assert.rejects(it.result, aborted);
});

test('disposing a model ends its runs with ABORTED', async () => {
  const m = await engine.loadModel(path('tests/data/tiny-uncond.f32.safetensors'));
  const it = m.steps({ seed: 3, steps: 20 });
  await it.next();
  m.dispose();
  await assert.rejects(it.next(), aborted);
  await assert.rejects(it.result, aborted);
  assert.throws(() => m.eps(new Float32Array(128), 1), (e) => e.code === 'STATE');
});

test('100 start/abort cycles: wasm memory does not grow and the heap in use returns to its level', async (t) => {
  const cycle = async (k) => {
    const ac = new AbortController();
    const o = { seed: k, batch: 4, steps: 100, classLabel: k % 3, guidance: 2, signal: ac.signal,
      sampler: k % 2 ? 'js_ddim' : 'ddpm', onStep: (s) => { if (s.step === 2) ac.abort(); } };
    if (k % 4 === 3) {
      const it = model.steps({ ...o, signal: undefined, onStep: undefined });
      for await (const s of it) if (s.step === 2) break; // the other way of stopping
      await assert.rejects(it.result, aborted);
    } else {
      await assert.rejects(model.sample(o), aborted);
    }
  };
  for (let k = 0; k < 4; k++) await cycle(k); // warm-up: the model's workspace reaches its size
  const before = engine.memory();
  for (let k = 0; k < 100; k++) await cycle(k);
  const after = engine.memory();
  t.diagnostic(`heap ${before.heapBytes} -> ${after.heapBytes} bytes; in use ${before.inUseBytes} -> ${after.inUseBytes} bytes`);
  assert.equal(after.heapBytes, before.heapBytes);
  assert.equal(after.inUseBytes, before.inUseBytes);
});

test('disposing models releases their memory', async () => {
  const base = engine.memory().inUseBytes;
  const m = await engine.loadModel(path('tests/data/tiny-cond.f16.safetensors'));
  await m.sample({ seed: 1, batch: 8, steps: 3 });
  assert.ok(engine.memory().inUseBytes > base + 1e6);
  m.dispose();
  assert.equal(engine.memory().inUseBytes, base);
});

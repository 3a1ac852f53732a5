// Threads for one forward pass in wasm (the threaded module ddpm-threads.wasm over a shared memory, Node
// worker_threads as the pool's threads; web/lib/threads.js): 1 .. 4 threads give the plain module's bits for single
// images, batches and whole runs, every split path included; abort stops a threaded run within one step; 100
// thread-count changes and 100 start/abort cycles leak neither heap nor workers; the plain module says why it has
// no threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, DdpmError } from '../web/ddpm.js';
import { path, SHIPPED, skipShipped } from './helpers.mjs';

const plain = await Engine.load();
const threaded = await Engine.load(undefined, { threads: true });
const bitsEqual = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
const input = (n, D) => Float32Array.from({ length: n * D }, (_, i) => 1.4 * Math.sin(0.37 * i + 0.1 * n));

test('the plain module refuses threads and says why; bad counts are refused', async () => {
  assert.equal(plain.threadsSupported, false);
  assert.match(plain.threadsUnavailable, /threads: true/);
  assert.equal(threaded.threadsSupported, true, threaded.threadsUnavailable);
  const m = await plain.loadModel(path('tests/data/tiny-cond.f32.safetensors'));
  await assert.rejects(m.setThreads(2), (e) => e instanceof DdpmError && e.code === 'UNSUPPORTED' &&
    /threads: true/.test(e.message));
  await m.setThreads(1);
  await m.setThreads(0); // automatic: one thread for a model this small
  assert.equal(m.threads, 1);
  for (const bad of [-1, 65, 1.5, '2'])
    await assert.rejects(m.setThreads(bad), (e) => e.code === 'INVALID_ARGUMENT', String(bad));
  m.dispose();
});

async function sameBits(t, file, opts = {}) {
  const ref = await plain.loadModel(file, opts), m = await threaded.loadModel(file, opts);
  const c = ref.config, D = c.inChannels * c.imageSize * c.imageSize;
  const labels = c.numClasses ? [1, 4, 0, 9, 2].map((k) => k % c.numClasses) : null;
  for (const n of [1, 5]) {
    const x = input(n, D), ts = [37, 148, 500, 777, 990].slice(0, n), y = labels && labels.slice(0, n);
    const want = ref.forward(x, ts, y);
    for (const th of [1, 2, 3, 4])
      for (const all of [false, true]) {
        await m.setThreads(th);
        assert.equal(m.threads, th);
        if (all) m._setThreadMinWork(0);
        assert.ok(bitsEqual(m.forward(x, ts, y), want), `${file}: batch ${n}, ${th} threads${all ? ', every op split' : ''}`);
      }
  }
  const opt = { sampler: 'ddpm', steps: 12, batch: 3, seed: 9, ...(labels ? { classLabel: labels.slice(0, 3) } : {}) };
  await m.setThreads(1);
  const want = await ref.sample(opt);
  for (const th of [2, 4]) {
    await m.setThreads(th);
    m._setThreadMinWork(0);
    const got = await m.sample(opt);
    assert.ok(bitsEqual(got.images, want.images), `${file}: a 12-step run on ${th} threads`);
  }
  ref.dispose();
  m.dispose();
  await m.closed;
}

test('shipped model: 1 .. 4 threads = the plain module, bit for bit', { skip: skipShipped }, (t) => sameBits(t, SHIPPED));
test('diffusers-layout RGB network (attention, stride-2 downsampling): 1 .. 4 threads, bit for bit', (t) =>
  sameBits(t, path('tests/data/diffusers-ref/cifar-narrow')));
test('the same network with compact I8 weights (Winograd weights per call): bit for bit', (t) =>
  sameBits(t, path('tests/data/diffusers-ref/cifar-narrow'), { quantize: 'i8', compact: true }));

test('abort stops a threaded run within one step; 100 start/abort cycles leak nothing', { skip: skipShipped }, async () => {
  const m = await threaded.loadModel(SHIPPED);
  await m.setThreads(3);
  m._setThreadMinWork(0);
  const ac = new AbortController();
  let steps = 0, atAbort = -1;
  setTimeout(() => { atAbort = steps; ac.abort(new Error('stop pressed')); }, 40);
  await assert.rejects(m.sample({ seed: 1, batch: 2, steps: 1000, signal: ac.signal, onStep: (s) => { steps = s.step; } }),
    (e) => e.code === 'ABORTED' && /stop pressed/.test(e.message));
  assert.ok(atAbort > 0 && steps <= atAbort + 1, `${steps - atAbort} steps after the abort`);
  const level = threaded.memory().inUseBytes;
  for (let k = 0; k < 100; k++) {
    const c = new AbortController();
    const run = m.sample({ seed: k, steps: 200, signal: c.signal, onStep: (s) => { if (s.step === 2) c.abort(); } });
    await assert.rejects(run, (e) => e.code === 'ABORTED');
  }
  assert.equal(threaded.memory().inUseBytes, level, 'heap in use after 100 threaded start/abort cycles');
  assert.equal(m._threads._workers.length, 2, 'still the same 2 workers');
  m.dispose();
  await m.closed;
});

test('100 thread-count changes: no heap and no worker left behind', { skip: skipShipped }, async () => {
  const before = threaded.memory().inUseBytes;
  const m = await threaded.loadModel(SHIPPED);
  const x = input(1, 784);
  const want = m.forward(x, [300], [5]);
  await m.setThreads(4);
  m.forward(x, [300], [5]); // the scratch grows to its 4-thread size (a V and an M chunk per thread) and stays
  await m.setThreads(1);
  const level = threaded.memory().inUseBytes; // one thread: no worker stacks
  for (let k = 0; k < 100; k++) {
    const n = 1 + ((k * 7) % 4);
    await m.setThreads(n);
    assert.equal(m._threads ? m._threads._workers.length : 0, n - 1);
    if (k % 10 === 0) assert.ok(bitsEqual(m.forward(x, [300], [5]), want), `after ${k} changes (${n} threads)`);
  }
  await m.setThreads(1);
  assert.equal(m._threads._workers.length, 0, 'one thread: every worker terminated');
  assert.equal(threaded.memory().inUseBytes, level, 'heap in use back at its level (worker stacks freed)');
  await m.setThreads(4);
  m.dispose(); // with 3 workers running: the pool is freed after they leave their loop, then they are terminated
  await m.closed;
  assert.equal(m._threads._workers.length, 0);
  assert.equal(threaded.memory().inUseBytes, before, 'heap in use back where it was before the model');
});

// DeepCache in wasm (SampleOptions.deepCache): a run equals the native CLI's `--deep-cache` run bit for bit (wasm =
// native, with the threaded module on 2 threads too), deepCache 1 is off, it does change the images, and a JS model
// plugin (no cache) is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../web/ddpm.js';
import { native, SHIPPED, skipShipped, skipNative } from './helpers.mjs';

const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

test('deepCache 3: wasm = native bit for bit (plain module, and the threaded one on 2 threads)', { skip: skipShipped || skipNative }, async () => {
  // --class all labels image k with (first_image + k) % 10: classes 2, 3, 4 here
  const o = { seed: 4, batch: 3, sampler: 'ddim', steps: 12, classLabel: [2, 3, 4], firstImage: 2, guidance: 1.25 };
  const engine = await Engine.load(), m = await engine.loadModel(SHIPPED);
  const full = (await m.sample(o)).images;
  const off = (await m.sample({ ...o, deepCache: 1 })).images;
  const cached = (await m.sample({ ...o, deepCache: 3 })).images;
  assert.ok(same(full, off), 'deepCache 1 = off');
  assert.ok(!same(full, cached), 'deepCache 3 changes the images (it skips work)');
  const nat = native(['sample', 'models/fmnist-cond.i8.safetensors', '--seed', '4', '--batch', '3', '--sampler', 'ddim',
    '--steps', '12', '--class', 'all', '--first-image', '2', '--guidance', '1.25', '--deep-cache', '3', '--raw', '@out.f32',
    '--quiet', '--threads', '1']);
  assert.ok(same(cached, nat), 'wasm deepCache run = `ddpm sample --deep-cache 3`');
  const te = await Engine.load(undefined, { threads: true }), tm = await te.loadModel(SHIPPED);
  await tm.setThreads(2);
  tm._setThreadMinWork(0);
  assert.ok(same((await tm.sample({ ...o, deepCache: 3 })).images, nat),
    'the threaded module on 2 threads: the same bits');
  tm.dispose();
  await tm.closed;
  await assert.rejects(m.sample({ ...o, deepCache: -1 }), (e) => e.code === 'INVALID_ARGUMENT');
  const net = engine.wrapModel({ channels: 1, size: 4, denoise: (x) => x.map((v) => 0.5 * v) });
  await assert.rejects(net.sample({ seed: 1, steps: 4, deepCache: 2 }), (e) => e.code === 'UNSUPPORTED' && /deep_cache/.test(e.message));
  net.dispose();
  m.dispose();
});

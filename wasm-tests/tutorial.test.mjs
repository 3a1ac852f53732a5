// The JS plugin tutorial in web/ddpm.d.ts (a sampler plugin and a model plugin) must run as written: its code is
// cut out of the .d.ts comment and executed; the sampler lands where the built-in Euler lands on the same model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Engine } from '../web/ddpm.js';
import { path, maxAbsDiff } from './helpers.mjs';

test('the JS plugin tutorial of ddpm.d.ts runs, and its Euler equals the built-in euler', async () => {
  const dts = readFileSync(path('web/ddpm.d.ts'), 'utf8').split('\n');
  const first = dts.findIndex((l) => l.startsWith(' *     const myEuler = {'));
  const last = dts.findIndex((l, i) => i > first && l.startsWith(' *     net.dispose();'));
  assert.ok(first > 0 && last > first, 'the tutorial is in web/ddpm.d.ts');
  const code = dts.slice(first, last + 1).map((l) => l.replace(/^ \*( {5}|$)/, '')).join('\n');
  const AsyncFunction = (async () => {}).constructor;
  const engine = await Engine.load();
  const { images, gauss } = await new AsyncFunction('engine', `${code}\nreturn { images, gauss };`)(engine);
  assert.equal(images.length, 8 * 16);
  assert.ok(engine.samplers().some((s) => s.name === 'my_euler_js' && s.kind === 'js'));
  const ref = await engine.run(gauss, { sampler: 'euler', steps: 100, seed: 1, batch: 8 }).sample();
  const d = maxAbsDiff(images, ref.images);
  assert.ok(d < 1e-5, `tutorial Euler vs built-in euler: max |diff| ${d}`);
  engine.dispose();
});

// The network in wasm against independent references: the PyTorch golden files (training/golden.py) and the
// native build's `ddpm forward`. Tolerance vs PyTorch: 1e-4, as tests/test_unet_golden.c.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../web/ddpm.js';
import { path, readSafetensors, maxAbsDiff, bitwiseEqual, native, skipNative, skipShipped, SHIPPED, SHIPPED_GOLDEN } from './helpers.mjs';
import { existsSync } from 'node:fs';

const TOL = 1e-4;
const engine = await Engine.load();

/* golden inputs -> (x, t, y or null) */
function goldenInputs(g) {
  const y = Array.from(g.y.data, Math.round);
  return { x: g.x.data, t: g.t.data, y: y.some((v) => v >= 0) ? y : null, n: g.t.data.length };
}

/* the native CLI's eps, one image at a time (its --t and --class apply to the whole input) */
function nativeEps(modelPath, x, t, y, n) {
  const per = x.length / n, outs = [];
  for (let k = 0; k < n; k++) {
    const args = ['forward', modelPath, '--in', '@x.f32', '--t', String(t[k]), '--out', '@out.f32'];
    if (y) args.push('--class', String(y[k]));
    outs.push(native(args, { 'x.f32': x.subarray(k * per, (k + 1) * per) }));
  }
  const out = new Float32Array(outs.reduce((s, o) => s + o.length, 0));
  let o = 0;
  for (const a of outs) { out.set(a, o); o += a.length; }
  return out;
}

const cases = [];
for (const name of ['tiny-cond', 'tiny-uncond'])
  for (const dt of ['f32', 'f16', 'i8'])
    cases.push({ label: `${name}.${dt}`, model: path(`tests/data/${name}.${dt}.safetensors`), golden: path(`tests/data/${name}.golden.safetensors`), key: `out.${dt}` });
cases.push({ label: 'shipped fmnist-cond.i8', model: SHIPPED, golden: SHIPPED_GOLDEN, key: 'out.i8', shipped: true });
cases.push({ label: 'shipped fmnist-uncond.i8', model: path('models/fmnist-uncond.i8.safetensors'),
  golden: path('tests/data/fmnist-uncond.golden.safetensors'), key: 'out.i8', shipped: true });

for (const c of cases) {
  const skip = c.shipped ? (skipShipped || (existsSync(c.golden) ? false : `no golden file ${c.golden}`)) : false;
  test(`${c.label}: eps vs PyTorch golden (max|d| <= ${TOL}) and vs native`, { skip }, async (t) => {
    const g = readSafetensors(c.golden);
    const { x, t: ts, y, n } = goldenInputs(g);
    const model = await engine.loadModel(c.model);
    try {
      const out = model.eps(x, ts, y);
      const ref = g[c.key].data;
      const d = maxAbsDiff(out, ref);
      t.diagnostic(`${c.label}: wasm vs PyTorch max|d| = ${d.toExponential(3)}`);
      assert.ok(d <= TOL, `wasm vs PyTorch max|d| = ${d}`);

      // image k alone == image k in the batch, bit for bit
      const per = x.length / n, perOut = out.length / n;
      for (let k = 0; k < n; k++) {
        const one = model.eps(x.subarray(k * per, (k + 1) * per), [ts[k]], y ? [y[k]] : null);
        assert.ok(bitwiseEqual(one, out.subarray(k * perOut, (k + 1) * perOut)), `image ${k} alone differs from the batch`);
      }

      await t.test('vs native build (`ddpm forward`)', { skip: skipNative }, () => {
        const nat = nativeEps(c.model, x, ts, y, n);
        const dn = maxAbsDiff(out, nat);
        t.diagnostic(`${c.label}: wasm vs native ${bitwiseEqual(out, nat) ? 'bitwise equal' : `max|d| = ${dn}`}`);
        assert.ok(dn <= 1e-6, `wasm vs native max|d| = ${dn}`);
        assert.ok(bitwiseEqual(out, nat), 'wasm and native eps are not bitwise equal');
      });
    } finally {
      model.dispose();
    }
  });
}

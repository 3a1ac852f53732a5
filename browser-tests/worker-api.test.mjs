// The package's worker API (web/workers.js, `ddpm-wasm/worker`) in headless Chromium: 2 workers give the images of
// 1 engine in the page bit for bit, a plugin registered once by URL reaches every worker, an abort ends the run
// within one step, and errors come back as DdpmErrors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch } from './helpers.mjs';

let server, browser, page;

before(async () => {
  server = await startServer();
  browser = await launch();
  page = await (await browser.newContext()).newPage();
  // any page of the server's origin: the test imports the modules itself
  await page.goto(new URL('errors.js', server.url).href);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
});

test('2 workers = 1 in-page engine bit for bit, with a JS plugin registered once by URL', async () => {
  const r = await page.evaluate(async () => {
    const { createWorkerEngine } = await import('/web/workers.js');
    const { Engine } = await import('/web/ddpm.js');
    const plugin = (await import('/web/plugins/ddim.js')).default;
    const opts = { seed: 5, batch: 5, classLabel: [0, 1, 2, 3, 4], guidance: 2, steps: 12, sampler: 'js_ddim' };
    const we = await createWorkerEngine({ workers: 2 });
    await we.registerSampler('/web/plugins/ddim.js');
    const wm = await we.loadModel('/models/fmnist-cond.i8.safetensors');
    const seen = [];
    const a = await wm.sample({ ...opts, onStep: (s) => { seen.push(s.step); } });
    const names = we.samplers().filter((s) => s.kind === 'js').map((s) => s.name);
    const e = await Engine.load();
    e.registerSampler(plugin);
    const m = await e.loadModel('/models/fmnist-cond.i8.safetensors');
    const b = await m.sample(opts);
    const same = a.images.length === b.images.length && a.images.every((v, i) => Object.is(v, b.images[i]));
    const bytesSame = a.bytes().every((v, i) => v === b.bytes()[i]);
    // every step's frame of the pool is the batch at that step (a faster worker's later frames wait)
    const mine = [], ref = [];
    for await (const s of wm.steps({ ...opts, batch: 5 })) mine.push([s.step, s.x.slice(), s.x0.slice()]);
    for await (const s of m.steps(opts)) ref.push([s.step, s.x.slice(), s.x0.slice()]);
    const framesSame = mine.length === ref.length && mine.every(([st, x, x0], k) => st === ref[k][0] &&
      x.every((v, i) => Object.is(v, ref[k][1][i])) && x0.every((v, i) => Object.is(v, ref[k][2][i])));
    we.dispose();
    return { same, bytesSame, framesSame, names, seen, workers: we.workers };
  });
  assert.ok(r.same, 'the worker pool\'s images equal the in-page engine\'s bit for bit');
  assert.ok(r.bytesSame);
  assert.ok(r.framesSame, 'every step\'s x and x0 equal the in-page engine\'s at that step');
  assert.deepEqual(r.names, ['js_ddim'], 'the plugin is registered (listed by the workers)');
  assert.deepEqual(r.seen, Array.from({ length: 12 }, (_, i) => i + 1), 'onStep once per step');
});

test('an abort ends a long run within one step; errors are DdpmErrors', async () => {
  const r = await page.evaluate(async () => {
    const { createWorkerEngine } = await import('/web/workers.js');
    const we = await createWorkerEngine({ workers: 2 });
    const wm = await we.loadModel('/models/fmnist-cond.i8.safetensors');
    const ctl = new AbortController();
    let at = 0, after = 0, code = null;
    try {
      for await (const s of wm.steps({ seed: 1, batch: 4, steps: 1000, signal: ctl.signal })) {
        if (!at && s.step >= 3) { at = s.step; ctl.abort(); } else if (at) after = s.step;
      }
    } catch (e) {
      code = e.code;
    }
    let bad = null;
    try { await we.loadModel('/models/no-such-model.safetensors'); } catch (e) { bad = { code: e.code, name: e.name, message: e.message }; }
    let badOpt = null;
    const wm2 = await we.loadModel('/models/fmnist-cond.i8.safetensors');
    try { await wm2.sample({ seed: 1, steps: 5000 }); } catch (e) { badOpt = { code: e.code, message: e.message }; }
    we.dispose();
    return { at, after, code, bad, badOpt };
  });
  assert.equal(r.code, 'ABORTED');
  assert.ok(r.at >= 3 && (r.after === 0 || r.after <= r.at + 1), `aborted at step ${r.at}, last step seen ${r.after}`);
  assert.equal(r.bad?.name, 'DdpmError');
  assert.match(r.bad.message, /no-such-model|404/);
  assert.match(r.badOpt?.message ?? '', /steps/);
});

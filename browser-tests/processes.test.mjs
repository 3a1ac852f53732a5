// The page shows the paper's two processes (issue: "the first ten minutes"): the forward process view draws the
// engine's q_sample of a bundled Fashion-MNIST test image, equal bit for bit to the Node API's Model.qSample for the
// same image, t and seed; the reverse-process filmstrip keeps x_t and x̂_0 of the first image at ten evenly spaced
// steps, equal to the frames of a Node run of the same options, and downloads as one PNG; the step-time chart has
// a time for every step. Then an axe-core scan of the page (no serious or critical violation) and the tab order
// (Generate among the first stops).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ROOT, startServer, launch, openPage, gotoReady, setControls, generate, screenshot } from './helpers.mjs';

const MODEL = path.join(ROOT, 'models', 'fmnist-cond.i8.safetensors');
let server, browser, nodeModel;

before(async () => {
  server = await startServer();
  browser = await launch();
  const { Engine } = await import(pathToFileURL(path.join(ROOT, 'web', 'ddpm.js')).href);
  nodeModel = await (await Engine.load()).loadModel(MODEL);
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
});

const toU8 = (x) => Math.floor(Math.fround(Math.fround(Math.fround(Math.min(1, Math.max(-1, x)) + 1) * 127.5) + 0.5));

test('the forward process view: x_t = the Node API\'s qSample of the same test image, t and seed', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await gotoReady(page, server.url);
    await page.waitForFunction(() => window.__ddpmDemo.forward?.draws > 0, null, { timeout: 30000 });
    const tests = fs.readFileSync(path.join(ROOT, 'web', 'assets', 'fmnist-test.u8'));
    assert.equal(tests.length, 10 * 784);
    const { initImage } = await import(pathToFileURL(path.join(ROOT, 'web', 'lib', 'pixels.js')).href);
    for (const [k, t, seed] of [[3, 300, 9], [7, 999, 123456789], [0, 0, 1]]) {
      await page.fill('#seed', String(seed));
      await page.dispatchEvent('#seed', 'change');
      await page.selectOption('#fwd-source', String(k));
      await page.fill('#fwd-t', String(t)); // fires input
      await page.waitForFunction(([t, seed, k]) => {
        const f = window.__ddpmDemo.forward;
        return f.t === t && f.seed === seed && f.source === String(k);
      }, [t, seed, k], { timeout: 30000 });
      const got = await page.evaluate(() => {
        const f = window.__ddpmDemo.forward, c = document.getElementById('fwd-images');
        return { xt: Array.from(f.xt), abar: f.abar, text: document.getElementById('fwd-stats').textContent,
          px: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data), w: c.width };
      });
      const x0 = initImage(new Uint8Array(tests.subarray(k * 784, (k + 1) * 784)), 1, 1, 28);
      const want = nodeModel.qSample(x0, t, { seed }).xt;
      assert.ok(want.every((v, i) => Object.is(v, got.xt[i])), `image ${k}, t = ${t}, seed ${seed}: page x_t = Node qSample`);
      // the canvas: x_0 left, x_t right (2 px apart), ddpm_to_u8's bytes
      let bad = 0;
      for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
        if (got.px[(y * got.w + x) * 4] !== tests[k * 784 + y * 28 + x]) bad++;
        if (got.px[(y * got.w + 30 + x) * 4] !== toU8(want[y * 28 + x])) bad++;
      }
      assert.equal(bad, 0, 'the canvas shows x_0 and x_t');
      const abar = nodeModel.schedule().alphasCumprod[t];
      assert.equal(got.abar, abar);
      assert.match(got.text, new RegExp(`t = ${t}: ᾱₜ = `));
      assert.match(got.text, /SNR = ᾱₜ \/ \(1 − ᾱₜ\) = /);
    }
    // the user's drawing as x_0
    await page.selectOption('#fwd-source', 'drawing');
    await page.waitForFunction(() => window.__ddpmDemo.forward.source === 'drawing', null, { timeout: 30000 });
    await page.locator('#forward-panel').scrollIntoViewIfNeeded();
    await screenshot(page, 'forward-process.png');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the reverse-process filmstrip: ten evenly spaced frames equal to a Node run\'s, one PNG; a time for every step', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await gotoReady(page, server.url);
    const run = { sampler: 'ddim', steps: 20, seed: 31, batch: 2, classLabel: 5, guidance: 2, workers: 2 };
    await setControls(page, run);
    const snap = await generate(page);
    assert.equal(snap.state, 'done');
    const strip = await page.evaluate(() => {
      const s = window.__ddpmDemo.filmstrip;
      return { steps: s.steps, frames: s.frames.map((f) => ({ step: f.step, t: f.t, x: Array.from(f.x), x0: Array.from(f.x0) })),
        stepMs: window.__ddpmDemo.stepMs, note: document.getElementById('step-chart-note').textContent };
    });
    assert.deepEqual(strip.steps, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20], 'ten evenly spaced steps, the last one included');
    assert.deepEqual(strip.frames.map((f) => f.step), strip.steps);
    const node = new Map();
    for await (const s of nodeModel.steps({ sampler: 'ddim', steps: 20, seed: 31, batch: 2, classLabel: 5, guidance: 2 }))
      node.set(s.step, { t: s.t, x: Array.from(s.x.subarray(0, 784), toU8), x0: Array.from(s.x0.subarray(0, 784), toU8) });
    for (const f of strip.frames) {
      const n = node.get(f.step);
      assert.equal(f.t, n.t);
      assert.deepEqual(f.x, n.x, `x_t of step ${f.step} = Node's`);
      assert.deepEqual(f.x0, n.x0, `x̂_0 of step ${f.step} = Node's`);
    }
    assert.equal(strip.stepMs.length, 20, 'a time for each of the 20 steps');
    assert.ok(strip.stepMs.every((v) => v >= 0 && Number.isFinite(v)));
    assert.match(strip.note, /median \d/);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#filmstrip-download')]);
    assert.match(dl.suggestedFilename(), /^ddpm-ddim-20steps-seed31-class5-filmstrip\.png$/);
    const png = fs.readFileSync(await dl.path());
    const k = Number(await page.inputValue('#png-scale'));
    assert.equal(png.readUInt32BE(16), (10 * 28 + 9 * 2) * k, 'PNG width: ten frames');
    assert.equal(png.readUInt32BE(20), (2 * 28 + 2) * k, 'PNG height: x_t and x̂_0 rows');
    await page.locator('#filmstrip-panel').scrollIntoViewIfNeeded();
    await screenshot(page, 'filmstrip.png');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('axe-core finds no serious or critical accessibility violation (light, dark, the model card); Generate is among the first tab stops', async () => {
  const axe = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  for (const scheme of ['light', 'dark']) {
    const { context, page } = await openPage(browser);
    try {
      await page.emulateMedia({ colorScheme: scheme });
      await gotoReady(page, server.url);
      await page.waitForFunction(() => window.__ddpmDemo.forward?.draws > 0, null, { timeout: 30000 });
      await page.addScriptTag({ content: axe });
      const r = await page.evaluate(async () => {
        const res = await window.axe.run(document, { resultTypes: ['violations'] });
        return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
      });
      const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(bad, [], `${scheme}: ${JSON.stringify(bad, null, 1)}`);
      if (scheme === 'dark') await screenshot(page, 'dark.png');
      // Tab from the top of the page: Generate within the first few stops
      await page.evaluate(() => document.activeElement?.blur());
      const order = [];
      for (let i = 0; i < 6; i++) {
        await page.keyboard.press('Tab');
        order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName));
      }
      assert.ok(order.slice(0, 3).includes('generate'), `Generate among the first 3 tab stops (got ${order.join(', ')})`);
      if (scheme !== 'light') continue;
      // the model card, one click away: the file's own numbers, then Escape closes it and focus returns
      await page.click('#model-card');
      const card = await page.evaluate(() => ({ open: document.getElementById('card-dialog').open,
        text: document.getElementById('card-dialog').innerText, focus: document.activeElement.id }));
      assert.ok(card.open);
      assert.equal(card.focus, 'card-close');
      for (const re of [/Data\s+fashion-mnist/, /1\.62 M parameters, 28×28×1/, /9,520 steps of batch 64/, /FD 0\.361 \(the data's own train\/test floor: 0\.025; 14\.4×\)/,
        /Class accuracy\s+93\.8%/]) assert.match(card.text, re);
      const inDialog = await page.evaluate(async () => (await window.axe.run(document.getElementById('card-dialog'))).violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id));
      assert.deepEqual(inDialog, [], 'the open card passes axe too');
      await screenshot(page, 'model-card.png');
      await page.keyboard.press('Escape');
      assert.deepEqual(await page.evaluate(() => [document.getElementById('card-dialog').open, document.activeElement.id]),
        [false, 'model-card']);
    } finally {
      await context.close();
    }
  }
});

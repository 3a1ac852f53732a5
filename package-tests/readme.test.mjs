// The README's "Embed it (npm)" section, run as written: each code block is taken from README.md (by its heading)
// and run in a fresh project that installed the packed tarball, with the shipped model copied in under the name the
// blocks use. Each test first checks that its block still holds the lines it is about, so that a README edit that
// breaks the example fails here.
//   Install:          names the tarball of this version
//   A Node script:    `node sample.mjs` writes samples.png, byte-identical to the native CLI command the text names
//                     (`./build/ddpm sample ... --out samples.png`) and to the block's `npx ddpm-wasm sample` line
//   A page:           served statically from the project (import map, no bundler) in headless Chromium: Generate draws
//                     every step, and the last canvas equals Node's last StepInfo.rgba('x0') for the block's own
//                     options; Abort ends a run early with code ABORTED (status 'aborted', fewer steps than the run's)
//   In Web Workers:   the block as the page's main.js (with the page block's import map): a registered plugin by
//                     URL, steps() and sample() over 2 workers; its canvas and images equal the in-thread Engine's
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { launch } from '../browser-tests/helpers.mjs';
import { CLI, MODEL, PKG, literalAfter, packAndInstall, readmeBlock, readmeSection, run, serve } from './helpers.mjs';

const MODEL_NAME = 'fmnist-cond.i8.safetensors'; // the name the README's blocks load
let tmp, app, installed, browser;

before(async () => {
  ({ tmp, app, installed } = packAndInstall('ddpm-readme-'));
  fs.copyFileSync(MODEL, path.join(app, MODEL_NAME));
  fs.writeFileSync(path.join(app, 'favicon.ico'), ''); // what Chromium asks every page for
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const has = (block, lines, where) => {
  for (const l of lines) assert.ok(block.includes(l), `README ${where}: the block no longer has ${JSON.stringify(l)}`);
};

/* The installed package's Engine in Node (the reference the pages are compared with). */
async function nodeEngine() {
  const { Engine } = await import(pathToFileURL(path.join(installed, 'web/ddpm.js')).href);
  const engine = await Engine.load();
  return { engine, model: await engine.loadModel(path.join(app, MODEL_NAME)) };
}

/* The last StepInfo of a steps() run, as rgba('x0', rgbaOpts). */
async function lastFrame(model, opts, rgbaOpts) {
  let last = null;
  for await (const s of model.steps(opts)) last = s;
  return Buffer.from(last.rgba('x0', rgbaOpts).data);
}

test('Install: the tarball of this version', () => {
  const block = readmeBlock('#### Install', 'sh');
  has(block, ['npm pack', `npm install ../ddpm/ddpm-wasm-${PKG.version}.tgz`, `cp ../ddpm/models/${MODEL_NAME} .`], 'Install');
  assert.match(readmeSection('### Embed it (npm)'), /not published on the npm registry/);
});

test('A Node script: samples.png equals the native CLI\'s and `npx ddpm-wasm sample`\'s bytes', { skip: !fs.existsSync(CLI) && 'no native CLI (build/ddpm)' }, () => {
  const block = readmeBlock('#### A Node script', 'js');
  has(block, ["import { Engine } from 'ddpm-wasm';", 'await Engine.load()', `engine.loadModel('${MODEL_NAME}')`,
    "writeFileSync('samples.png', result.png("], 'A Node script');
  fs.writeFileSync(path.join(app, 'sample.mjs'), block);
  const out = run(process.execPath, ['sample.mjs'], app);
  assert.match(out, /samples\.png: 16 images of 28 x 28/);
  const png = fs.readFileSync(path.join(app, 'samples.png'));
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');

  // the native command the text after the block names, run as written (but for the output file)
  const text = readmeSection('#### A Node script');
  const m = text.match(/`\.\/build\/ddpm (sample [^`]+)`/);
  assert.ok(m, 'the text names the native CLI command');
  const cliArgs = m[1].split(/\s+/).filter(Boolean);
  assert.equal(cliArgs[cliArgs.indexOf('--out') + 1], 'samples.png');
  cliArgs[cliArgs.indexOf('--out') + 1] = 'cli.png';
  run(CLI, [...cliArgs, '--quiet'], app);
  assert.ok(fs.readFileSync(path.join(app, 'cli.png')).equals(png), 'samples.png = the native CLI\'s --out, byte for byte');

  // the README's `npx ddpm-wasm sample` line with the same options
  const sh = readmeBlock('#### The ddpm-wasm command', 'sh').split('\n');
  const line = sh.find((l) => l.startsWith(`npx ddpm-wasm sample ${MODEL_NAME} `));
  assert.ok(line, 'the command block samples the same model');
  const npxArgs = line.split(/\s+/).slice(1);
  assert.deepEqual(npxArgs.slice(1), cliArgs.map((a) => (a === 'cli.png' ? 'samples.png' : a)),
    'the npx line has the native command\'s options');
  npxArgs[npxArgs.indexOf('--out') + 1] = 'npx.png';
  run('npx', [...npxArgs, '--quiet'], app);
  assert.ok(fs.readFileSync(path.join(app, 'npx.png')).equals(png), 'npx ddpm-wasm sample writes the same bytes');
});

test('The ddpm-wasm command block: its info and --help lines run', () => {
  const lines = readmeBlock('#### The ddpm-wasm command', 'sh').split('\n').filter((l) => l.startsWith('npx ddpm-wasm '));
  const info = lines.find((l) => l.startsWith('npx ddpm-wasm info '));
  const helpLine = lines.find((l) => /^npx ddpm-wasm --help\b/.test(l));
  assert.ok(info && helpLine, 'the block has an info and a --help line');
  const r = spawnSync('npx', info.split(/\s+/).slice(1), { cwd: app, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^image size +28 x 28$/m);
  assert.match(r.stdout, /^classes +10 /m);
  const h = spawnSync('npx', helpLine.split(/\s+/).slice(1), { cwd: app, encoding: 'utf8' });
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /^usage: ddpm-wasm /);
  // the hf: line needs the network: not run here, but it must be the documented id form
  for (const l of lines.filter((x) => x.includes(' hf:'))) assert.match(l, / hf:[\w.-]+\/[\w.-]+ /);
});

/* A page of the project in a fresh context, with its page errors collected. */
async function openProjectPage(srv, file) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  await page.goto(srv.url + file);
  return { context, page, problems };
}

const waitStatus = (page, re, timeout = 120000) => page.waitForFunction((src) => {
  const t = document.getElementById('status')?.textContent ?? '';
  return new RegExp(src).test(t) ? t : null;
}, re.source, { timeout, polling: 20 }).then((h) => h.jsonValue());

test('A page: the import-map page samples, draws every step, and Abort aborts the run', async () => {
  const html = readmeBlock('#### A page', 'html');
  has(html, ['<script type="importmap">', '"ddpm-wasm": "./node_modules/ddpm-wasm/web/ddpm.js"', '<canvas id="out"',
    '<button id="go"', '<button id="stop"', '<span id="status">', "import { Engine } from 'ddpm-wasm';",
    `const MODEL = './${MODEL_NAME}';`, 'await engine.loadModel(MODEL)', 'new AbortController()',
    'signal: controller.signal', 'model.steps(opts)', "s.rgba('x0'", 'ctx.putImageData(', "e.code === 'ABORTED'",
    'controller.abort()'], 'A page');
  fs.writeFileSync(path.join(app, 'index.html'), html);
  // the reference: the block's own options and rgba() arguments, in Node (the seed box starts at its value="1")
  const seed = html.match(/<input id="seed" type="number" value="(\d+)"/)[1];
  const opts = literalAfter(html, 'const opts = ', { seedBox: { value: seed }, controller: { signal: undefined } });
  const rgbaOpts = literalAfter(html, "s.rgba('x0', ");
  const ref = await nodeEngine();
  const want = await lastFrame(ref.model, opts, rgbaOpts);
  ref.engine.dispose();

  const srv = await serve(app);
  const { context, page, problems } = await openProjectPage(srv, 'index.html');
  try {
    assert.equal(await waitStatus(page, /^(ready|error)/), 'ready', problems.join('; '));
    // every status text the page shows, in order
    await page.evaluate(() => {
      const el = document.getElementById('status');
      window.__statuses = [];
      new MutationObserver(() => window.__statuses.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
    });
    await page.click('#go');
    assert.equal(await waitStatus(page, /^(done|aborted|error)/), 'done', problems.join('; '));
    const seen = await page.evaluate(() => window.__statuses);
    const steps = seen.filter((t) => t.startsWith('step ')).map((t) => Number(t.split(' ')[1]));
    assert.deepEqual(steps, Array.from({ length: opts.steps }, (_, i) => i + 1), 'every step was drawn');
    const got = await page.evaluate(() => {
      const c = document.getElementById('out');
      return { w: c.width, h: c.height, px: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data) };
    });
    const px = Buffer.from(got.px);
    assert.ok(px.some((v, i) => i % 4 !== 3 && v > 0), 'the canvas has non-zero pixels');
    assert.ok(px.equals(want), 'the last canvas equals Node\'s last StepInfo.rgba(\'x0\') of the same options');

    // Abort: a second run, stopped after its first step is drawn
    await page.evaluate(() => { window.__statuses = []; });
    await page.click('#go');
    await waitStatus(page, /^step \d+ \/ \d+$/);
    await page.click('#stop');
    assert.equal(await waitStatus(page, /^(done|aborted|error)/), 'aborted', 'the run ended with code ABORTED');
    const seen2 = await page.evaluate(() => window.__statuses);
    const last = Math.max(...seen2.filter((t) => t.startsWith('step ')).map((t) => Number(t.split(' ')[1])));
    assert.ok(last < opts.steps, `the run stopped early (at step ${last} of ${opts.steps})`);
    assert.ok(!seen2.includes('done'));
    assert.equal(await page.isEnabled('#go'), true, 'Generate is enabled again');
    assert.equal(await page.isDisabled('#stop'), true, 'Abort is disabled again');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await srv.close();
  }
});

test('In Web Workers: the block as the page\'s main.js gives the in-thread Engine\'s canvas and images', async () => {
  const js = readmeBlock('#### In Web Workers', 'js');
  has(js, ["import { createWorkerEngine } from 'ddpm-wasm/worker';", 'createWorkerEngine({ workers: 2 })',
    "engine.registerSampler(new URL('./node_modules/ddpm-wasm/web/plugins/ddim.js', import.meta.url))",
    `engine.loadModel('./${MODEL_NAME}')`, 'model.steps(', "sampler: 'js_ddim'", 'signal: controller.signal',
    "s.rgba('x0'", 'const { images } = await model.sample(', 'engine.dispose()'], 'In Web Workers');
  const importMap = readmeBlock('#### A page', 'html').match(/<script type="importmap">[\s\S]*?<\/script>/)[0];
  assert.ok(importMap.includes('"ddpm-wasm/worker": "./node_modules/ddpm-wasm/web/workers.js"'),
    'the page\'s import map maps ddpm-wasm/worker');
  // the one addition: the module exports what the test reads
  fs.writeFileSync(path.join(app, 'main.js'), `${js}\nexport { images };\n`);
  fs.writeFileSync(path.join(app, 'workers.html'), `<!doctype html><html><head><meta charset="utf-8">${importMap}</head>
<body><canvas></canvas><script type="module">
import('./main.js').then((m) => {
  const c = document.querySelector('canvas');
  window.__result = { images: Array.from(new Uint8Array(m.images.buffer, m.images.byteOffset, m.images.byteLength)),
    canvas: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data) };
}, (e) => { window.__result = { error: String((e && e.message) || e) }; });
</script></body></html>`);

  const ref = await nodeEngine();
  const { default: plugin } = await import(pathToFileURL(path.join(installed, 'web/plugins/ddim.js')).href);
  ref.engine.registerSampler(plugin);
  const stepOpts = literalAfter(js, 'model.steps(', { controller: { signal: undefined } });
  const wantCanvas = await lastFrame(ref.model, stepOpts, literalAfter(js, "s.rgba('x0', "));
  const wantImages = (await ref.model.sample(literalAfter(js, 'await model.sample('))).images;
  ref.engine.dispose();

  const srv = await serve(app);
  const { context, page, problems } = await openProjectPage(srv, 'workers.html');
  try {
    await page.waitForFunction(() => window.__result, null, { timeout: 120000 });
    const r = await page.evaluate(() => window.__result);
    assert.equal(r.error, undefined, `the block failed: ${r.error} ${problems.join('; ')}`);
    assert.ok(Buffer.from(r.images).equals(Buffer.from(wantImages.buffer, wantImages.byteOffset, wantImages.byteLength)),
      'sample() over the workers = the in-thread Engine\'s images, bit for bit');
    const canvas = Buffer.from(r.canvas);
    assert.ok(canvas.some((v, i) => i % 4 !== 3 && v > 0), 'the canvas has non-zero pixels');
    assert.ok(canvas.equals(wantCanvas), 'the last drawn step = the in-thread Engine\'s');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await srv.close();
  }
});

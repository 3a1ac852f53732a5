// The npm package as another web app gets it: `npm pack` of this repository, installed with
// `npm install ./ddpm-wasm-X.tgz` into fresh temporary projects, then
//   (a) a Node ESM script samples the shipped model: the same floats as the native CLI (--raw) and, where the
//       package has result.png(), the same PNG bytes as `ddpm sample --out`;
//   (b) a Vite app built with `vite build` and served statically samples in headless Chromium: its images equal
//       Node's bit for bit and its canvas equals Node's rgba();
//   (c) the same page bundled by esbuild (--platform=browser), and no bundle holds a node: import;
//   (d) a plain static page importing the installed files through an import map, no bundler;
//   (e) tsc --strict accepts a usage file against the package's types and rejects a wrong one.
// Vite, esbuild and TypeScript come from npm into the temporary project (scripts/test-package.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { launch } from '../browser-tests/helpers.mjs';
import { serve } from './helpers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HERE = path.join(ROOT, 'package-tests');
const MODEL = path.join(ROOT, 'models/fmnist-cond.i8.safetensors');
const CLI = path.join(ROOT, 'build/ddpm');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const run = (cmd, args, cwd, opts = {}) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });

let tmp, app, tgz, browser, installed;

before(async () => {
  assert.ok(fs.existsSync(path.join(ROOT, 'web/dist/ddpm.wasm')), 'build web/dist/ddpm.wasm first (scripts/build-wasm.sh)');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ddpm-pkg-'));
  run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], ROOT);
  tgz = path.join(tmp, `ddpm-wasm-${PKG.version}.tgz`);
  assert.ok(fs.existsSync(tgz), `npm pack wrote ${tgz}`);
  app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // the package itself, then the tools the tests build with (from npm)
  run('npm', ['install', '--no-audit', '--no-fund', tgz], app);
  run('npm', ['install', '--no-audit', '--no-fund', 'vite@5', 'esbuild@0.21', 'typescript@5'], app, { timeout: 300000 });
  installed = path.join(app, 'node_modules/ddpm-wasm');
  for (const f of ['node-app.mjs']) fs.copyFileSync(path.join(HERE, f), path.join(app, f));
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the tarball: the package files, the prebuilt wasm, the types; the version is the engine\'s', async () => {
  const files = run('tar', ['-tzf', tgz], tmp).split('\n').filter(Boolean);
  for (const f of ['package/web/ddpm.js', 'package/web/ddpm.d.ts', 'package/web/dist/ddpm.wasm', 'package/web/lib/model.js'])
    assert.ok(files.includes(f), `${f} is packed`);
  assert.ok(!files.some((f) => /web\/(app|index|style|your-model|downloads)\b|tests?\//.test(f)), 'no demo page or tests in the package');
  for (const f of ['package/web/workers.js', 'package/web/workers.d.ts', 'package/web/worker.js', 'package/web/pool.js'])
    assert.ok(files.includes(f), `${f} is packed (the worker API)`);
  const { Engine } = await import(pathToFileURL(path.join(installed, 'web/ddpm.js')).href);
  const e = await Engine.load();
  assert.equal(e.version, PKG.version, 'package.json version = ddpm_version()');
  e.dispose();
});

test('(a) Node: the installed package samples what the native CLI samples, bit for bit', { skip: !fs.existsSync(CLI) && 'no native CLI' }, () => {
  const out = JSON.parse(run(process.execPath, ['node-app.mjs', MODEL, path.join(tmp, 'node')], app));
  assert.equal(out.version, PKG.version);
  // --scale 1: result.png()'s default (the CLI's own default is ceil(112 / S), 4 here)
  run(CLI, ['sample', MODEL, '--seed', '7', '--batch', '16', '--class', 'all', '--guidance', '2', '--steps', '20',
    '--scale', '1', '--raw', path.join(tmp, 'cli.f32'), '--out', path.join(tmp, 'cli.png'), '--quiet'], ROOT);
  assert.ok(fs.readFileSync(path.join(tmp, 'node.f32')).equals(fs.readFileSync(path.join(tmp, 'cli.f32'))),
    'the floats equal the CLI\'s --raw');
  if (out.png) {
    assert.ok(fs.readFileSync(path.join(tmp, 'node.png')).equals(fs.readFileSync(path.join(tmp, 'cli.png'))),
      'result.png() equals the CLI\'s --out PNG byte for byte');
  }
});

/* The page's reference, computed in Node with the installed package: the images and the canvas it should draw. */
async function reference() {
  const { Engine } = await import(pathToFileURL(path.join(installed, 'web/ddpm.js')).href);
  const e = await Engine.load();
  const m = await e.loadModel(MODEL);
  const r = await m.sample({ seed: 7, batch: 4, classLabel: [0, 1, 2, 3], guidance: 2, steps: 10 });
  const rgba = r.rgba({ scale: 2 });
  e.dispose();
  return { images: Array.from(new Uint8Array(r.images.buffer)), canvas: Array.from(rgba.data) };
}

async function pageResult(dir, page = 'index.html') {
  const srv = await serve(dir);
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  const problems = [];
  p.on('pageerror', (e) => problems.push(e.message));
  try {
    await p.goto(srv.url + page);
    await p.waitForFunction(() => window.__result, null, { timeout: 120000 });
    const r = await p.evaluate(() => window.__result);
    assert.equal(r.error, undefined, `the page failed: ${r.error} ${problems.join('; ')}`);
    return r;
  } finally {
    await ctx.close();
    await srv.close();
  }
}

const noNodeImports = (dir) => {
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    if (!/\.m?js$/.test(f)) continue;
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    assert.ok(!/["'`]node:/.test(src), `${f}: a node: import reached the browser bundle`);
  }
};

test('(b) a Vite app: vite build, served statically, samples in Chromium what Node samples', async () => {
  const dir = path.join(app, 'vite');
  fs.mkdirSync(path.join(dir, 'public'), { recursive: true });
  for (const f of ['index.html', 'main.js']) fs.copyFileSync(path.join(HERE, 'web', f), path.join(dir, f));
  fs.copyFileSync(MODEL, path.join(dir, 'public/model.safetensors'));
  run(path.join(app, 'node_modules/.bin/vite'), ['build', '--logLevel', 'warn'], dir);
  const dist = path.join(dir, 'dist');
  assert.ok(fs.readdirSync(path.join(dist, 'assets')).some((f) => f.endsWith('.wasm')), 'Vite emitted the wasm asset');
  noNodeImports(dist);
  const [got, want] = await Promise.all([pageResult(dist), reference()]);
  assert.equal(got.version, PKG.version);
  assert.deepEqual(got.images, want.images, 'the page\'s images equal Node\'s bit for bit');
  assert.deepEqual(got.canvas, want.canvas, 'the canvas equals Node\'s rgba()');
});

test('(c) esbuild --platform=browser: the same page bundled, no node: import', async () => {
  const dir = path.join(app, 'esbuild');
  fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(HERE, 'web/index.html'), path.join(dir, 'index.html'));
  run(path.join(app, 'node_modules/.bin/esbuild'), [path.join(HERE, 'web/main.js'), '--bundle', '--format=esm',
    '--platform=browser', `--outfile=${path.join(dir, 'main.js')}`, '--log-level=warning'], app,
  { env: { ...process.env, NODE_PATH: path.join(app, 'node_modules') } });
  noNodeImports(dir);
  // esbuild keeps new URL('./dist/ddpm.wasm', import.meta.url) as written: the wasm goes next to the bundle
  fs.copyFileSync(path.join(installed, 'web/dist/ddpm.wasm'), path.join(dir, 'dist/ddpm.wasm'));
  fs.copyFileSync(MODEL, path.join(dir, 'model.safetensors'));
  const [got, want] = await Promise.all([pageResult(dir), reference()]);
  assert.deepEqual(got.images, want.images);
  assert.deepEqual(got.canvas, want.canvas);
});

test('(d) no bundler: the installed files through an import map', async () => {
  for (const f of ['importmap.html', 'main.js']) fs.copyFileSync(path.join(HERE, 'web', f), path.join(app, f));
  fs.copyFileSync(MODEL, path.join(app, 'model.safetensors'));
  const [got, want] = await Promise.all([pageResult(app, 'importmap.html'), reference()]);
  assert.deepEqual(got.images, want.images);
  assert.deepEqual(got.canvas, want.canvas);
});

test('(e) the package\'s types: tsc --strict accepts the usage file and rejects a wrong one', () => {
  const tsc = path.join(app, 'node_modules/.bin/tsc');
  const usage = fs.readFileSync(path.join(ROOT, 'wasm-tests/types/usage.ts'), 'utf8')
    .replace(/'\.\.\/\.\.\/web\/ddpm\.js'/g, "'ddpm-wasm'").replace(/'\.\.\/\.\.\/web\/workers\.js'/g, "'ddpm-wasm/worker'");
  assert.ok(usage.includes("from 'ddpm-wasm'"));
  fs.writeFileSync(path.join(app, 'usage.ts'), usage);
  fs.writeFileSync(path.join(app, 'wrong.ts'), [
    "import { Engine } from 'ddpm-wasm';",
    'export async function wrong() {',
    '  const engine = await Engine.load();',
    "  const m = await engine.loadModel('model.safetensors');",
    "  await m.sample({ seed: '7', batch: 2 });        // seed must be a number",
    "  engine.registerSampler({ name: 'x' });          // a plugin needs apiVersion and step",
    '}',
  ].join('\n'));
  const args = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'es2022', '--moduleResolution', 'bundler',
    '--lib', 'es2022,dom'];
  run(tsc, [...args, 'usage.ts'], app);
  let failed = null;
  try {
    run(tsc, [...args, 'wrong.ts'], app);
  } catch (e) {
    failed = String(e.stdout);
  }
  assert.ok(failed, 'the wrong usage must not compile');
  assert.match(failed, /wrong\.ts\(5,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
  assert.match(failed, /wrong\.ts\(6,\d+\): error.*missing the following properties.*apiVersion, step/s);
});

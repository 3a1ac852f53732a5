// result.png(): the CLI's grid PNG from the JS API. The same seed and options give the same file bytes as
// `ddpm sample ... --out grid.png [--scale K]` (both encode with src/image/grid_png.c), for the shipped conditional
// model (--class all, guidance), a scaled non-square grid, one image, and an RGB diffusers model; the bytes are
// checked as a PNG without decoding them (signature, IHDR, IEND); png() needs only the engine. png()'s default scale
// is 1 (the CLI's --scale 1); the CLI's own default, ceil(112 / S), is png({ scale: 4 }) for 28 px images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../web/ddpm.js';
import { path, NATIVE_CLI, ROOT, SHIPPED, skipNative, skipShipped } from './helpers.mjs';

const RGB = path('tests/data/diffusers/small-rgb');
const engine = await Engine.load();
const shipped = skipShipped ? null : await engine.loadModel(SHIPPED);
const skip = skipShipped || skipNative;

/* The bytes of the PNG the native CLI writes for `ddpm sample MODEL ...args --out grid.png`. */
function cliPng(model, args) {
  const dir = mkdtempSync(join(tmpdir(), 'ddpm-png-test-'));
  try {
    const out = join(dir, 'grid.png');
    execFileSync(NATIVE_CLI, ['sample', model, ...args, '--quiet', '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/* A PNG's structure without decoding it: the signature, IHDR's size / depth / colour type, and IEND last. */
function assertPng(png, width, height, colorType) {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  assert.deepEqual([...b.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  assert.equal(b.readUInt32BE(8), 13);
  assert.equal(b.toString('latin1', 12, 16), 'IHDR');
  assert.deepEqual([b.readUInt32BE(16), b.readUInt32BE(20), b[24], b[25]], [width, height, 8, colorType]);
  assert.equal(b.toString('latin1', b.length - 8, b.length - 4), 'IEND');
}

/* The grid's side for n tiles of s px: ceil(sqrt(n)) columns, 2 px padding around and between (then upscaled). */
const gridSide = (tiles, s, scale) => (tiles * (s + 2) + 2) * scale;

test('png() equals the CLI file: shipped model, 16 images, --class all, guidance 2, 20 steps', { skip }, async () => {
  const r = await shipped.sample({ seed: 7, batch: 16, classLabel: Array.from({ length: 16 }, (_, k) => k % 10), guidance: 2, steps: 20 });
  const png = r.png();
  assert.ok(png instanceof Uint8Array);
  assertPng(png, gridSide(4, 28, 1), gridSide(4, 28, 1), 0);
  const opts = ['--seed', '7', '--batch', '16', '--class', 'all', '--guidance', '2', '--steps', '20'];
  assert.deepEqual(png, cliPng(SHIPPED, [...opts, '--scale', '1']));
  assert.deepEqual(r.png({ scale: 1 }), png, 'scale 1 is the default');
  const cliDefault = cliPng(SHIPPED, opts);
  assertPng(cliDefault, gridSide(4, 28, 4), gridSide(4, 28, 4), 0);
  assert.deepEqual(r.png({ scale: 4 }), cliDefault, 'the CLI\'s default scale for 28 px images: ceil(112 / 28) = 4');
});

test('png({ scale: 2 }) equals the CLI with --scale 2: 5 images (3 x 2 grid, one tile empty), --first-image', { skip }, async () => {
  const r = await shipped.sample({ seed: 11, batch: 5, firstImage: 3, classLabel: 4, steps: 10 });
  const png = r.png({ scale: 2 });
  assertPng(png, gridSide(3, 28, 2), gridSide(2, 28, 2), 0);
  assert.deepEqual(png, cliPng(SHIPPED, ['--seed', '11', '--batch', '5', '--first-image', '3', '--class', '4', '--steps', '10', '--scale', '2']));
});

test('png() of one image equals the CLI file', { skip }, async () => {
  const r = await shipped.sample({ seed: 3, classLabel: 9, guidance: 3, steps: 8 });
  const png = r.png();
  assertPng(png, gridSide(1, 28, 1), gridSide(1, 28, 1), 0);
  assert.deepEqual(png, cliPng(SHIPPED, ['--seed', '3', '--class', '9', '--guidance', '3', '--steps', '8', '--scale', '1']));
});

test('png() of an RGB model (diffusers folder) equals the CLI file, scale 3', { skip: skipNative }, async () => {
  const m = await engine.loadModel(`${RGB}/`);
  try {
    const S = m.config.imageSize;
    assert.equal(m.config.inChannels, 3);
    const r = await m.sample({ seed: 5, batch: 3, steps: 4 });
    const png = r.png({ scale: 3 });
    assertPng(png, gridSide(2, S, 3), gridSide(2, S, 3), 2);
    assert.deepEqual(png, cliPng(RGB, ['--seed', '5', '--batch', '3', '--steps', '4', '--scale', '3']));
  } finally {
    m.dispose();
  }
});

test('png() needs only the engine: after the model is disposed it gives the same bytes and frees what it took', { skip: skipShipped }, async () => {
  const e2 = await Engine.load();
  const m = await e2.loadModel(SHIPPED);
  const r = await m.sample({ seed: 1, batch: 2, classLabel: [0, 1], steps: 3 });
  const before = r.png({ scale: 2 });
  m.dispose();
  const inUse = e2.memory().inUseBytes;
  assert.deepEqual(r.png({ scale: 2 }), before);
  assert.equal(e2.memory().inUseBytes, inUse, 'png() frees its heap buffers');
  for (const scale of [0, 33, 1.5, '2', NaN])
    assert.throws(() => r.png({ scale }), (err) => err.code === 'INVALID_ARGUMENT' && /scale/.test(err.message), String(scale));
  e2.dispose();
  assert.throws(() => r.png(), (err) => err.code === 'STATE');
});

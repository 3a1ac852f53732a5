// One grid layout: rgba({ layout: 'png', scale }) has exactly the pixels of png({ scale }) once the PNG is decoded
// (here, with Node's zlib and the PNG filters undone by hand: an independent reader), for grey and RGB models,
// square and ragged grids; and the plain rgba() options (gap, border, background) place the tiles where they say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { Engine, toRGBA } from '../web/ddpm.js';
import { path, SHIPPED, skipShipped } from './helpers.mjs';

/* An 8-bit grey (colour type 0) or RGB (2) PNG -> { width, height, channels, data: Uint8Array [H, W, channels] }. */
function decodePng(png) {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  assert.deepEqual([...b.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  let o = 8, width = 0, height = 0, channels = 0;
  const idat = [];
  while (o < b.length) {
    const len = b.readUInt32BE(o), type = b.toString('latin1', o + 4, o + 8), body = b.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0); height = body.readUInt32BE(4);
      assert.equal(body[8], 8, 'bit depth 8');
      channels = { 0: 1, 2: 3 }[body[9]];
      assert.ok(channels, `colour type ${body[9]}`);
      assert.equal(body[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(body);
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat)), stride = width * channels, out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[y * stride + x - channels] : 0, up = y ? out[(y - 1) * stride + x] : 0;
      const c = x >= channels && y ? out[(y - 1) * stride + x - channels] : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = up;
      else if (f === 3) pred = (a + up) >> 1;
      else if (f === 4) {
        const p = a + up - c, pa = Math.abs(p - a), pb = Math.abs(p - up), pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
      } else assert.equal(f, 0, `filter ${f}`);
      out[y * stride + x] = (line[x] + pred) & 255;
    }
  }
  return { width, height, channels, data: out };
}

function assertSamePixels(rgba, png) {
  const d = decodePng(png);
  assert.deepEqual([rgba.width, rgba.height], [d.width, d.height], 'the same size');
  let bad = 0;
  for (let i = 0; i < d.width * d.height; i++) {
    const r = rgba.data[4 * i], g = rgba.data[4 * i + 1], b = rgba.data[4 * i + 2], a = rgba.data[4 * i + 3];
    const want = d.channels === 1 ? [d.data[i], d.data[i], d.data[i]] : [d.data[3 * i], d.data[3 * i + 1], d.data[3 * i + 2]];
    if (r !== want[0] || g !== want[1] || b !== want[2] || a !== 255) bad++;
  }
  assert.equal(bad, 0, 'rgba({ layout: "png" }) = the decoded png()');
}

const engine = await Engine.load();

test('rgba({ layout: "png" }) = png() decoded: the shipped grey model, 1, 5 and 16 images, scales 1-3', { skip: skipShipped }, async () => {
  const m = await engine.loadModel(SHIPPED);
  for (const [batch, scale] of [[1, 1], [5, 2], [16, 1], [16, 3]]) {
    const r = await m.sample({ seed: batch, batch, classLabel: 2, steps: 6, sampler: 'ddim' });
    assertSamePixels(r.rgba({ layout: 'png', scale }), r.png({ scale }));
  }
  // and a StepInfo's grid has the layout too
  for await (const s of m.steps({ seed: 3, batch: 3, steps: 2, sampler: 'ddim' })) {
    const want = toRGBA(s.x0, 3, 1, 28, { layout: 'png', scale: 2 });
    assert.deepEqual(s.rgba('x0', { layout: 'png', scale: 2 }), want);
  }
  m.dispose();
});

test('rgba({ layout: "png" }) = png() decoded: an RGB diffusers model, 3 images at scale 2', async () => {
  const m = await engine.loadModel({ weights: path('tests/data/diffusers/small-rgb/diffusion_pytorch_model.safetensors'),
    config: path('tests/data/diffusers/small-rgb/config.json') });
  const r = await m.sample({ seed: 9, batch: 3, steps: 4, sampler: 'ddim' });
  assertSamePixels(r.rgba({ layout: 'png', scale: 2 }), r.png({ scale: 2 }));
  m.dispose();
});

test('rgba gap / border / background place the tiles where they say; bad options are refused', () => {
  const img = new Float32Array(2 * 4).fill(1); // two 2x2 white images
  const g = toRGBA(img, 2, 1, 2, { gap: 3, border: 1, background: [10, 20, 30, 255] });
  assert.deepEqual([g.width, g.height], [1 + 2 + 3 + 2 + 1, 1 + 2 + 1]);
  const px = (x, y) => Array.from(g.data.subarray(4 * (y * g.width + x), 4 * (y * g.width + x) + 4));
  assert.deepEqual(px(0, 0), [10, 20, 30, 255], 'border');
  assert.deepEqual(px(1, 1), [255, 255, 255, 255], 'image 0 at (1, 1)');
  assert.deepEqual(px(3, 1), [10, 20, 30, 255], 'gap');
  assert.deepEqual(px(6, 2), [255, 255, 255, 255], 'image 1 at (6, 1) .. (7, 2)');
  const t = toRGBA(img, 2, 1, 2);
  assert.equal(t.data[4 * 2 + 3], 0, 'the default gap is transparent');
  for (const o of [{ layout: 'jpeg' }, { border: -1 }, { gap: 1.5 }, { background: [0, 0, 0] }, { background: [0, 0, 0, 256] }])
    assert.throws(() => toRGBA(img, 2, 1, 2, o), (e) => e.code === 'INVALID_ARGUMENT', JSON.stringify(o));
});

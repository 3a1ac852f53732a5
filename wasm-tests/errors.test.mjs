// Bad input is refused with a clear DdpmError, and the engine stays usable: after every refusal a reference run
// gives the same bytes as before and the heap in use is unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { Engine, DdpmError } from '../web/ddpm.js';
import { path, sha256, skipShipped, SHIPPED } from './helpers.mjs';

const engine = await Engine.load();
const cond = await engine.loadModel(path('tests/data/tiny-cond.f32.safetensors'));
const uncond = await engine.loadModel(path('tests/data/tiny-uncond.f32.safetensors'));
const REF = { seed: 9, batch: 2, steps: 5, sampler: 'ddim', classLabel: 1, guidance: 2 };
const refHash = sha256((await cond.sample(REF)).images);
const baseline = engine.memory().inUseBytes;

async function stillUsable() {
  assert.equal(sha256((await cond.sample(REF)).images), refHash, 'the reference run changed');
  assert.equal(engine.memory().inUseBytes, baseline, 'a refused call left memory allocated');
}

/* asserts a DdpmError with one of `codes` whose message matches `re` */
const refused = (codes, re) => (e) => {
  assert.ok(e instanceof DdpmError, `not a DdpmError: ${e}`);
  assert.ok([].concat(codes).includes(e.code), `code ${e.code}, message: ${e.message}`);
  if (re) assert.match(e.message, re);
  assert.ok(e.message.length > 5);
  return true;
};

test('corrupt, truncated and non-model files are refused', async () => {
  // tests/data/corrupt/EXPECTED.txt lists the status of each file at the stage where the C test reads it; a whole
  // model load may stop at an earlier stage (config, missing tensors), so here any load error is right.
  const codes = ['FORMAT', 'UNSUPPORTED', 'SHAPE', 'MISSING_TENSOR', 'CONFIG', 'TOO_LARGE', 'INVALID_ARGUMENT'];
  let n = 0;
  for (const f of readdirSync(path('tests/data/corrupt'))) {
    if (!f.endsWith('.safetensors') || f.startsWith('valid_')) continue;
    const bytes = readFileSync(path(`tests/data/corrupt/${f}`));
    await assert.rejects(engine.loadModel(bytes), refused(codes), f);
    n++;
  }
  assert.ok(n >= 35, `${n} corrupt files`);
  const good = readFileSync(path('tests/data/tiny-cond.i8.safetensors'));
  for (const cut of [0, 7, 8, 100, good.length >> 1, good.length - 1])
    await assert.rejects(engine.loadModel(good.subarray(0, cut)), refused(['FORMAT', 'TOO_LARGE', 'IO']), `truncated at ${cut}`);
  await assert.rejects(engine.loadModel(new TextEncoder().encode('<html>not a model</html>')), refused(['FORMAT', 'TOO_LARGE']));
  // a valid safetensors file that is not a model: the golden file has no ddpm metadata
  await assert.rejects(engine.loadModel(readFileSync(path('tests/data/tiny-cond.golden.safetensors'))), refused(['CONFIG', 'MISSING_TENSOR']));
  await assert.rejects(engine.loadModel(path('tests/data/no-such-file.safetensors')), refused('IO'));
  await assert.rejects(engine.loadModel(42), refused('INVALID_ARGUMENT'));
  await stillUsable();
});

test('bad sampling options are refused', async () => {
  const bad = [
    [{ ...REF, steps: 0 }, 'INVALID_ARGUMENT', /steps/],
    [{ ...REF, steps: -5 }, 'INVALID_ARGUMENT', /steps/],
    [{ ...REF, steps: 1001 }, 'INVALID_ARGUMENT', /steps/],
    [{ ...REF, steps: 2.5 }, 'INVALID_ARGUMENT', /steps/],
    [{ ...REF, seed: -1 }, 'INVALID_ARGUMENT', /seed/],
    [{ ...REF, seed: 1.5 }, 'INVALID_ARGUMENT', /seed/],
    [{ ...REF, seed: 2 ** 53 }, 'INVALID_ARGUMENT', /seed/],
    [{ ...REF, seed: undefined }, 'INVALID_ARGUMENT', /seed/],
    [{ ...REF, seed: '7' }, 'INVALID_ARGUMENT', /seed/],
    [{ ...REF, batch: 0 }, 'INVALID_ARGUMENT', /batch/],
    [{ ...REF, batch: 100000 }, 'INVALID_ARGUMENT', /batch/],
    [{ ...REF, guidance: NaN }, 'INVALID_ARGUMENT', /guidance/],
    [{ ...REF, guidance: Infinity }, 'INVALID_ARGUMENT', /guidance/],
    [{ ...REF, guidance: 1000 }, 'INVALID_ARGUMENT', /guidance/],
    [{ ...REF, samplerOptions: { eta: NaN } }, 'INVALID_ARGUMENT', /eta/],
    [{ ...REF, samplerOptions: { eta: Infinity } }, 'INVALID_ARGUMENT', /eta/],
    [{ ...REF, samplerOptions: { eta: 2 } }, 'INVALID_ARGUMENT', /eta/],
    [{ ...REF, samplerOptions: { nope: 1 } }, 'INVALID_ARGUMENT', /nope/],
    [{ ...REF, sampler: 'ddpm', samplerOptions: { variance: 'huge' } }, 'INVALID_ARGUMENT', /variance/],
    [{ ...REF, sampler: 'no_such_sampler' }, 'NOT_FOUND', /no_such_sampler/],
    [{ ...REF, classLabel: 3 }, 'INVALID_ARGUMENT', /class/],
    [{ ...REF, classLabel: -2 }, 'INVALID_ARGUMENT', /class/],
    [{ ...REF, classLabel: 1.5 }, 'INVALID_ARGUMENT', /class/],
    [{ ...REF, classLabel: null, guidance: 2 }, 'INVALID_ARGUMENT', /guidance/],
    [{ ...REF, spacing: 'random' }, 'INVALID_ARGUMENT', /spacing/],
    [{ ...REF, init: new Float32Array(10), strength: 0.5 }, 'INVALID_ARGUMENT', /init/],
    [{ ...REF, init: new Uint8Array(12 * 12 + 1), strength: 0.5 }, 'INVALID_ARGUMENT', /init/],
    [{ ...REF, init: new Float32Array(144), strength: 0 }, 'INVALID_ARGUMENT', /strength/],
    [{ ...REF, init: new Float32Array(144), strength: Infinity }, 'INVALID_ARGUMENT', /strength/],
    [{ ...REF, init: new Float32Array(144).fill(NaN), strength: 0.5 }, 'INVALID_ARGUMENT', /NaN/],
    [null, 'INVALID_ARGUMENT', /object/],
  ];
  for (const [o, code, re] of bad) {
    await assert.rejects(cond.sample(o), refused(code, re), JSON.stringify(o, (k, v) => (ArrayBuffer.isView(v) ? `[${v.length}]` : v)));
    // steps() reports the same error through next() and result
    const it = cond.steps(o);
    await assert.rejects(it.next(), refused(code, re));
    await assert.rejects(it.result, refused(code, re));
  }
  // unconditional model: no labels, no guidance
  await assert.rejects(uncond.sample({ seed: 1, classLabel: 0 }), refused('INVALID_ARGUMENT', /unconditional/));
  await assert.rejects(uncond.sample({ seed: 1, guidance: 3 }), refused('INVALID_ARGUMENT', /guidance/));
  // eps() input checks
  assert.throws(() => cond.eps(new Float32Array(143), 5), refused('INVALID_ARGUMENT'));
  assert.throws(() => cond.eps(new Float32Array(144), [1, 2]), refused('INVALID_ARGUMENT'));
  assert.throws(() => cond.eps(new Float32Array(144).fill(NaN), 5), refused('INVALID_ARGUMENT'));
  assert.throws(() => cond.eps(new Float32Array(144), 5, [7]), refused('INVALID_ARGUMENT'));
  assert.throws(() => uncond.eps(new Float32Array(128), 5, [0]), refused('INVALID_ARGUMENT'));
  await stillUsable();
});

/* A safetensors file with some __metadata__ entries replaced (the tensors and their offsets are untouched). */
function withMetadata(bytes, changes) {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  Object.assign(header.__metadata__, changes);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes.subarray(8 + n), 8 + json.length);
  return out;
}

test('sizes that cannot fit in the 2 GiB wasm heap are refused before anything is allocated', async () => {
  // The forward pass runs in chunks of 8 images, so with 28x28 images every batch up to DDPM_MAX_BATCH fits (4096
  // images with guidance hold about 100 MB of state). What cannot fit: the tiny model's weights with its image size
  // raised to 1024 (attention then runs at 512x512: one attention matrix alone is 262144^2 floats).
  const bytes = withMetadata(readFileSync(path('tests/data/tiny-cond.f32.safetensors')),
    { 'ddpm.image_size': '1024', 'ddpm.attn_resolutions': '512' });
  const mem = engine.memory();
  let m = null;
  try {
    m = await engine.loadModel(bytes);
  } catch (e) {
    assert.ok(e instanceof DdpmError && e.code === 'TOO_LARGE', `load refused with ${e.code}: ${e.message}`);
  }
  if (m) {
    await assert.rejects(m.sample({ seed: 1, batch: 1, steps: 1 }), refused('TOO_LARGE'));
    assert.throws(() => m.eps(new Float32Array(1024 * 1024), 5, [0]), refused(['TOO_LARGE', 'OUT_OF_MEMORY']));
    m.dispose();
  }
  assert.equal(engine.memory().inUseBytes, mem.inUseBytes, 'a refused size left memory allocated');
  await assert.rejects(cond.sample({ seed: 1, batch: 4097 }), refused('INVALID_ARGUMENT', /batch/));
  await stillUsable();
});

// web/lib/constants.js is generated from include/ddpm.h by scripts/gen-constants.mjs: it is current, --check names a
// drift (a status added to the header), the generator refuses inputs that disagree, and its versions are the module's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, copyFileSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { Engine } from '../web/ddpm.js';
import { path } from './helpers.mjs';
import * as C from '../web/lib/constants.js';

const GEN = path('scripts/gen-constants.mjs');
const INPUTS = ['include/ddpm.h', 'src/core/names.c', 'src/wasm/CMakeLists.txt', 'web/lib/constants.js'];

/** Runs the generator; returns { status, out } (stdout + stderr). */
const gen = (...args) => {
  const r = spawnSync(process.execPath, [GEN, ...args], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
};

/** A temporary tree with copies of the generator's inputs and output, at the repository's paths. */
function scratchRepo() {
  const root = mkdtempSync(join(tmpdir(), 'ddpm-constants-'));
  for (const p of INPUTS) { mkdirSync(join(root, dirname(p)), { recursive: true }); copyFileSync(path(p), join(root, p)); }
  const edit = (p, from, to) => {
    const f = join(root, p), s = readFileSync(f, 'utf8');
    assert.ok(s.includes(from), `${p} has no '${from}'`);
    writeFileSync(f, s.replace(from, to));
  };
  return { root, edit, done: () => rmSync(root, { recursive: true, force: true }) };
}

test('web/lib/constants.js is what scripts/gen-constants.mjs generates from include/ddpm.h (--check)', () => {
  const r = gen('--check');
  assert.equal(r.status, 0, r.out);
});

test('--check names a status added to the header; regenerating makes it pass again', () => {
  const t = scratchRepo();
  try {
    assert.equal(gen('--check', '--root', t.root).status, 0, 'the copy starts current');
    t.edit('include/ddpm.h', '    DDPM_STATUS_COUNT_', '    DDPM_ERR_NEW = 16,\n    DDPM_STATUS_COUNT_');
    // without its name in names.c the generator refuses (the C build's _Static_assert would too)
    let r = gen('--check', '--root', t.root);
    assert.equal(r.status, 2, r.out);
    assert.match(r.out, /ddpm_status_name has 16 names .* 17 values \(no name for DDPM_ERR_NEW\)/);
    t.edit('src/core/names.c', '"ABORTED", "STATE"}', '"ABORTED", "STATE", "NEW"}');
    r = gen('--check', '--root', t.root);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /web\/lib\/constants\.js is out of date/);
    assert.match(r.out, /STATUS_CODES adds NEW: is .*, should be .*'STATE', 'NEW'\]/);
    assert.match(r.out, /ST_NEW is missing \(should be 16\)/);
    r = gen('--root', t.root);
    assert.equal(r.status, 0, r.out);
    assert.match(readFileSync(join(t.root, 'web/lib/constants.js'), 'utf8'), /export const ST_NEW = 16;/);
    r = gen('--check', '--root', t.root);
    assert.equal(r.status, 0, r.out);
    // and the repository's own file was not touched
    assert.equal(gen('--check').status, 0);
  } finally { t.done(); }
});

test('--check names a changed limit and heap size; a hand edit of the file is drift too', () => {
  const t = scratchRepo();
  try {
    t.edit('include/ddpm.h', '#define DDPM_MAX_BATCH 4096', '#define DDPM_MAX_BATCH 8192');
    t.edit('src/wasm/CMakeLists.txt', '-sMAXIMUM_MEMORY=2GB', '-sMAXIMUM_MEMORY=4GB');
    let r = gen('--check', '--root', t.root);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /MAX_BATCH is 4096, should be 8192/);
    assert.match(r.out, /HEAP_LIMIT is 2147483648, should be 4294967296/);
    assert.equal(gen('--root', t.root).status, 0);
    t.edit('web/lib/constants.js', '/* ddpm_prediction. */', '/* predictions */');
    r = gen('--check', '--root', t.root);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /the values agree, the text does not/);
  } finally { t.done(); }
});

test('the generator refuses, saying what, inputs that lack or disagree on what it expects', () => {
  const cases = [
    ['include/ddpm.h', 'typedef enum ddpm_spacing {', 'typedef enum ddpm_spacing_renamed {', /enum ddpm_spacing_renamed is typedef'd as ddpm_spacing/],
    ['include/ddpm.h', '#define DDPM_SAMPLER_API_VERSION 2', '', /no '#define DDPM_SAMPLER_API_VERSION'/],
    ['include/ddpm.h', 'DDPM_PREDICT_X0 = 1', 'DDPM_PREDICT_X0 = 5', /DDPM_PREDICT_X0 = 5, expected 1/],
    ['src/core/names.c', '"INVALID_ARGUMENT"', '"INVALID_ARG"', /spells DDPM_ERR_INVALID_ARGUMENT 'INVALID_ARG'/],
    ['src/core/names.c', 'ddpm_winograd_name', 'ddpm_winograd_label', /no name table ddpm_winograd_name/],
    ['src/wasm/CMakeLists.txt', '-sMAXIMUM_MEMORY=2GB', '', /no -sMAXIMUM_MEMORY/],
  ];
  for (const [file, from, to, re] of cases) {
    const t = scratchRepo();
    try {
      t.edit(file, from, to);
      for (const args of [['--check'], []]) {
        const r = gen(...args, '--root', t.root);
        assert.equal(r.status, 2, `${file}: ${from} -> ${to}: ${r.out}`);
        assert.match(r.out, re);
      }
      assert.equal(readFileSync(join(t.root, 'web/lib/constants.js'), 'utf8'), readFileSync(path('web/lib/constants.js'), 'utf8'),
        'a refused run wrote nothing');
    } finally { t.done(); }
  }
});

test('the generated VERSION is ddpm_version(), SAMPLER_API_VERSION is 2, the limits are the header\'s', async () => {
  const e = await Engine.load();
  assert.equal(C.VERSION, e.version);
  assert.equal(C.SAMPLER_API_VERSION, 2);
  assert.equal(C.MAX_BATCH, 4096);
  assert.equal(C.HEAP_LIMIT, 2 ** 31);
  assert.equal(C.ST_INVALID, C.STATUS_CODES.indexOf('INVALID_ARGUMENT'));
  assert.equal(C.SCHEDULE_CUSTOM, C.SCHEDULES.length);
  e.dispose();
});

test('the wasm export list is one table (src/wasm/CMakeLists.txt): every WASM_EXPORT of src/wasm/*.c is in it, the module exports each entry, and the JS calls nothing else', async () => {
  const { readdirSync } = await import('node:fs');
  const cmake = readFileSync(path('src/wasm/CMakeLists.txt'), 'utf8').replace(/#[^\n]*/g, '');
  const list = /set\(DDPM_WASM_EXPORTS([\s\S]*?)\)/.exec(cmake)[1].split(/\s+/).filter(Boolean);
  assert.ok(list.length > 50, `${list.length} exports listed`);
  const defined = [];
  for (const f of readdirSync(path('src/wasm')).filter((n) => n.endsWith('.c'))) {
    const src = readFileSync(path(`src/wasm/${f}`), 'utf8');
    for (const m of src.matchAll(/^WASM_EXPORT\s+[^(]*?\b(ddpm_wasm_\w+)\s*\(/gm)) defined.push(m[1]);
  }
  assert.ok(defined.length > 20, `${defined.length} WASM_EXPORT definitions found`);
  assert.deepEqual(defined.filter((n) => !list.includes(n)), [], 'WASM_EXPORT functions missing from DDPM_WASM_EXPORTS');
  const module = await WebAssembly.compile(readFileSync(path('web/dist/ddpm.wasm')));
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  assert.deepEqual(list.filter((n) => !exported.has(n)), [], 'listed but not exported by web/dist/ddpm.wasm');
  // what the JS layer calls on the module's exports (X.name( / x.name( / e._x.name( ...)
  const js = ['web/ddpm.js', ...readdirSync(path('web/lib')).map((n) => `web/lib/${n}`)].filter((f) => f.endsWith('.js'));
  const called = new Set();
  for (const f of js)
    for (const m of readFileSync(path(f), 'utf8').matchAll(/\b(?:X|x|_x)\.((?:ddpm_|malloc\b|free\b)\w*)\s*\(/g)) called.add(m[1]);
  assert.ok(called.size > 30, `${called.size} exports called from JS`);
  assert.deepEqual([...called].filter((n) => !list.includes(n)), [], 'called from JS but not in the export list');
});

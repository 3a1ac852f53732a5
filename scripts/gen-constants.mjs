#!/usr/bin/env node
// Writes web/lib/constants.js, the JS side of the C/JS boundary, from its one source of truth: include/ddpm.h's
// enums and #defines, src/core/names.c's name tables (the spelling of each enum value) and src/wasm/CMakeLists.txt's
// -sMAXIMUM_MEMORY (the wasm heap limit). No dependencies.
//   node scripts/gen-constants.mjs             (re)write web/lib/constants.js (only when it changes)
//   node scripts/gen-constants.mjs --check     exit 1, naming what differs, when the file is not what it would write
//   --root DIR                                 the repository to read and write (default: this script's repository)
// Exits 2, saying what, when an input lacks something it expects (an enum, a #define, a name table) or disagrees.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HEADER = 'include/ddpm.h', NAMES = 'src/core/names.c', WASM_CMAKE = 'src/wasm/CMakeLists.txt';
const OUT = 'web/lib/constants.js';

class InputError extends Error {}
const refuse = (msg) => { throw new InputError(msg); };

/* ---- C parsing, for this header's style: `typedef enum NAME { A = 0, B, ... } NAME;` and `#define NAME VALUE` ---- */

// Comments become a space (string literals in these files hold no comment markers).
const stripComments = (src) => src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');

/** Every `typedef enum` of the source: name -> { entries: [{ id, value }], count (the _COUNT_ sentinel or null) }. */
function parseEnums(src) {
  const enums = new Map();
  for (const m of stripComments(src).matchAll(/typedef\s+enum\s+(\w+)\s*\{([^}]*)\}\s*(\w+)\s*;/g)) {
    const [, tag, body, name] = m;
    if (tag !== name) refuse(`${HEADER}: enum ${tag} is typedef'd as ${name}`);
    const entries = [];
    let next = 0, count = null;
    for (const raw of body.split(',').map((s) => s.trim()).filter(Boolean)) {
      const e = /^([A-Z_][A-Z0-9_]*)\s*(?:=\s*(.+))?$/.exec(raw);
      if (!e) refuse(`${HEADER}: enum ${name}: cannot read the entry '${raw}'`);
      const value = e[2] === undefined ? next : evalInt(e[2], `${name}.${e[1]}`);
      if (/_COUNT_$/.test(e[1])) count = value;   // a sentinel, not a value
      else entries.push({ id: e[1], value });
      next = value + 1;
    }
    enums.set(name, { entries, count });
  }
  return enums;
}

/** Every object-like `#define NAME VALUE` of the source: name -> value text. */
function parseDefines(src) {
  const defines = new Map();
  for (const m of stripComments(src).matchAll(/^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+([^\n]*?)[ \t]*$/gm)) defines.set(m[1], m[2]);
  return defines;
}

/** An integer constant expression of this header: literals (with u/l suffixes), (type) casts, parentheses, + - * <<. */
function evalInt(text, what) {
  const toks = text.replace(/\(\s*(?:unsigned\s+)?(?:size_t|int|long|uint64_t|int64_t|uint32_t|int32_t)\s*\)/g, ' ')
    .match(/(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*|<<|[-+*()]|\S/g) || [];
  let i = 0;
  const bad = () => refuse(`${HEADER}: ${what}: cannot evaluate '${text.trim()}' (integers, casts, ( ) + - * << only)`);
  const atom = () => {
    const t = toks[i++];
    if (t === '(') { const v = expr(); if (toks[i++] !== ')') bad(); return v; }
    if (t === '-') return -atom();
    if (t !== undefined && /^(0[xX][0-9a-fA-F]+|\d+)[uUlL]*$/.test(t)) return BigInt(t.replace(/[uUlL]+$/, ''));
    return bad();
  };
  const product = () => { let v = atom(); while (toks[i] === '*') { i++; v *= atom(); } return v; };
  const sum = () => {
    let v = product();
    while (toks[i] === '+' || toks[i] === '-') v = toks[i++] === '+' ? v + product() : v - product();
    return v;
  };
  const expr = () => { let v = sum(); while (toks[i] === '<<') { i++; v <<= sum(); } return v; };
  const v = expr();
  if (i !== toks.length || v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) bad();
  return Number(v);
}

/** names.c's tables: `const char *ddpm_X_name(...) { static const char *const t[] = {"a", "b"}; ...}` -> X -> names. */
function parseNameTables(src) {
  const tables = new Map();
  const re = /const\s+char\s*\*\s*ddpm_(\w+)_name\s*\([^)]*\)\s*\{\s*static\s+const\s+char\s*\*\s*const\s+\w+\s*\[\s*\]\s*=\s*\{([^}]*)\}/g;
  for (const m of stripComments(src).matchAll(re)) {
    const strings = [...m[2].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((s) => s[1]);
    if (m[2].replace(/"((?:[^"\\]|\\.)*)"/g, '').replace(/[\s,]/g, '') !== '') refuse(`${NAMES}: ddpm_${m[1]}_name: the table holds more than string literals`);
    tables.set(m[1], strings);
  }
  return tables;
}

/* ---- the constants ---- */

const camel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

/** Reads the inputs under root; returns the exports, in file order: [{ name, value, comment }]. */
function collect(root) {
  const read = (p) => { const f = join(root, p); if (!existsSync(f)) refuse(`${p} is missing (under ${root})`); return readFileSync(f, 'utf8'); };
  const header = read(HEADER), enums = parseEnums(header), defines = parseDefines(header);
  const tables = parseNameTables(read(NAMES));

  // An enum whose values are 0..n-1 (the name tables index by value), with its names from names.c, checked.
  const enumNames = (name, { names = true } = {}) => {
    const e = enums.get(name) ?? refuse(`${HEADER}: no 'typedef enum ${name} { ... } ${name};'`);
    if (e.entries.length === 0) refuse(`${HEADER}: enum ${name} is empty`);
    e.entries.forEach(({ id, value }, k) => {
      if (value !== k) refuse(`${HEADER}: enum ${name}: ${id} = ${value}, expected ${k} (values must run 0, 1, 2, ... in order)`);
    });
    if (e.count !== null && e.count !== e.entries.length) refuse(`${HEADER}: enum ${name}: the _COUNT_ sentinel is ${e.count}, not ${e.entries.length}`);
    if (!names) return e.entries;
    const short = name.replace(/^ddpm_/, ''), t = tables.get(short) ?? refuse(`${NAMES}: no name table ddpm_${short}_name`);
    if (t.length !== e.entries.length) {
      const extra = e.entries.slice(t.length).map((x) => x.id);
      refuse(`${NAMES}: ddpm_${short}_name has ${t.length} names but ${HEADER}'s ${name} has ${e.entries.length} values` +
        (extra.length ? ` (no name for ${extra.join(', ')})` : ` (names without a value: ${t.slice(e.entries.length).join(', ')})`));
    }
    return e.entries.map((x, k) => ({ ...x, name: t[k] }));
  };
  const define = (name) => {
    const v = defines.get(name) ?? refuse(`${HEADER}: no '#define ${name}'`);
    return evalInt(v, name);
  };

  // status: the C identifier without DDPM_ERR_ (DDPM_OK -> OK), which names.c must spell the same way
  const status = enumNames('ddpm_status').map(({ id, name }) => {
    const derived = id.replace(/^DDPM_(ERR_)?/, '');
    if (derived !== name) refuse(`${NAMES}: ddpm_status_name spells ${id} '${name}', expected '${derived}'`);
    return name;
  });
  const kinds = enumNames('ddpm_schedule_kind');
  const custom = kinds.find((k) => k.id === 'DDPM_SCHEDULE_CUSTOM') ?? refuse(`${HEADER}: ddpm_schedule_kind has no DDPM_SCHEDULE_CUSTOM`);
  if (custom.value !== kinds.length - 1) refuse(`${HEADER}: DDPM_SCHEDULE_CUSTOM must be the last schedule kind (SCHEDULES is the list before it)`);
  const names = (e) => enumNames(e).map((x) => x.name);

  // the wasm heap limit: -sMAXIMUM_MEMORY=<n>[KB|MB|GB|TB] (Emscripten's suffixes are powers of 1024)
  const mm = /-sMAXIMUM_MEMORY=(\d+)(B|KB|MB|GB|TB)?\b/.exec(stripComments(read(WASM_CMAKE).replace(/#[^\n]*/g, '')));
  if (!mm) refuse(`${WASM_CMAKE}: no -sMAXIMUM_MEMORY=<size> link option`);
  const heap = Number(mm[1]) * 1024 ** ['B', 'KB', 'MB', 'GB', 'TB'].indexOf(mm[2] ?? 'B');

  const version = ['MAJOR', 'MINOR', 'PATCH'].map((p) => define(`DDPM_VERSION_${p}`)).join('.');
  const out = [];
  const add = (name, value, comment) => out.push({ name, value, comment });
  add('STATUS_CODES', status, 'ddpm_status, in enum order, as DdpmError.code spells it (the C name without DDPM_ERR_).');
  status.forEach((s, k) => add(`ST_${s}`, k, k === 0 ? 'The number of each status (ST_ + its code).' : null));
  add('ST_INVALID', status.indexOf('INVALID_ARGUMENT'), 'ST_INVALID_ARGUMENT, by its short name.');
  add('PREDICTIONS', names('ddpm_prediction'), 'ddpm_prediction.');
  add('VARIANCES', names('ddpm_variance'), 'ddpm_variance.');
  add('SCHEDULES', kinds.slice(0, -1).map((k) => k.name), 'ddpm_schedule_kind without the last, custom: the built-in schedules.');
  add('SCHEDULE_CUSTOM', custom.value, 'DDPM_SCHEDULE_CUSTOM: explicit betas.');
  add('SCHEDULE_ARRAYS', names('ddpm_schedule_array').map(camel), 'ddpm_schedule_array, camelCase (alphas_cumprod -> alphasCumprod).');
  add('SPACINGS', Object.fromEntries(enumNames('ddpm_spacing').map((x) => [x.name, x.value])), 'ddpm_spacing: name -> value.');
  add('OPTION_TYPES', names('ddpm_option_type'), 'ddpm_option_type.');
  add('DTYPES', names('ddpm_dtype'), 'ddpm_dtype.');
  add('WINOGRAD', names('ddpm_winograd'), 'ddpm_winograd.');
  const purposes = (enums.get('ddpm_noise_purpose') ?? refuse(`${HEADER}: no enum ddpm_noise_purpose`)).entries;
  add('NOISE', Object.fromEntries(purposes.map((x) => [x.id.replace(/^DDPM_NOISE_/, '').toLowerCase(), x.value])),
    'ddpm_noise_purpose: the RNG stream of each kind of noise (name -> value).');
  for (const d of ['BATCH', 'TIMESTEPS', 'CHANNELS', 'IMAGE_SIZE', 'LEVELS', 'WORKSPACE_BYTES'])
    add(`MAX_${d}`, define(`DDPM_MAX_${d}`), d === 'BATCH' ? 'The size limits (DDPM_MAX_*): beyond them a call fails with TOO_LARGE.' : null);
  add('HEAP_LIMIT', heap, `The wasm heap's limit in bytes: -sMAXIMUM_MEMORY=${mm[1]}${mm[2] ?? ''} (${WASM_CMAKE}).`);
  add('THREADS_AUTO_MIN_FLOPS', define('DDPM_THREADS_AUTO_MIN_FLOPS'), 'DDPM_THREADS_AUTO_MIN_FLOPS: threads = 0 uses every core from this many flops per evaluation.');
  add('SAMPLER_API_VERSION', define('DDPM_SAMPLER_API_VERSION'), 'DDPM_SAMPLER_API_VERSION: the plugin vtable version.');
  add('VERSION', version, 'DDPM_VERSION_MAJOR.MINOR.PATCH, as ddpm_version() returns it.');
  return out;
}

/* ---- the output ---- */

const lit = (v) => (typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : String(v));

// `export const NAME = VALUE;`, arrays and objects wrapped at 120 columns with a two-space continuation
function format({ name, value }) {
  let items, open, close;
  if (Array.isArray(value)) [items, open, close] = [value.map(lit), '[', ']'];
  else if (typeof value === 'object') [items, open, close] = [Object.entries(value).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : lit(k)}: ${lit(v)}`), '{ ', ' }'];
  else return `export const ${name} = ${lit(value)};`;
  if (items.length === 0) return `export const ${name} = ${open.trim()}${close.trim()};`;
  const lines = [];
  let line = `export const ${name} = ${open}`, fresh = true;   // fresh: nothing on this line after its start yet
  items.forEach((it, k) => {
    const piece = it + (k < items.length - 1 ? ',' : close + ';');
    if (!fresh && line.length + 1 + piece.length > 120) { lines.push(line); line = '  '; fresh = true; }
    line += (fresh ? '' : ' ') + piece;
    fresh = false;
  });
  lines.push(line);
  return lines.join('\n');
}

function render(exports) {
  const body = exports.map((e) => (e.comment ? `\n/* ${e.comment} */\n` : '') + format(e)).join('\n');
  return `// generated by scripts/gen-constants.mjs from include/ddpm.h — do not edit
// (with the spellings of ${NAMES}'s name tables and ${WASM_CMAKE}'s -sMAXIMUM_MEMORY).
// Regenerate: node scripts/gen-constants.mjs (scripts/build-wasm.sh does); scripts/test.sh runs it with --check.
${body}
`;
}

/** The `export const NAME = VALUE;` statements of a constants.js, name -> VALUE with whitespace collapsed. */
const exportsOf = (text) => new Map([...text.matchAll(/^export const (\w+) = ([\s\S]*?);$/gm)]
  .map((m) => [m[1], m[2].replace(/\s+/g, ' ').replace(/\[ /g, '[').replace(/ \]/g, ']')]));

/** What differs between the file and what would be written, one line each. */
function drift(have, want) {
  const a = exportsOf(have), b = exportsOf(want), out = [];
  for (const [k, v] of b) {
    if (!a.has(k)) out.push(`${k} is missing (should be ${v})`);
    else if (a.get(k) !== v) {
      // a list of names: say which were added and dropped (a reorder shows as neither)
      const items = (t) => (/^\[.*\]$/.test(t) ? [...t.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]) : null);
      const [x, y] = [items(a.get(k)), items(v)], what = [];
      if (x && y) {
        const added = y.filter((n) => !x.includes(n)), dropped = x.filter((n) => !y.includes(n));
        if (added.length) what.push(`adds ${added.join(', ')}`);
        if (dropped.length) what.push(`drops ${dropped.join(', ')}`);
        if (!what.length) what.push('reorders');
      }
      out.push(`${k} ${what.length ? `${what.join(' and ')}: ` : ''}is ${a.get(k)}, should be ${v}`);
    }
  }
  for (const k of a.keys()) if (!b.has(k)) out.push(`${k} is no longer in ${HEADER} (remove it)`);
  if (out.length === 0) out.push('the values agree, the text does not (comments or layout edited by hand)');
  return out;
}

function main(argv) {
  let root = join(dirname(fileURLToPath(import.meta.url)), '..'), check = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--check') check = true;
    else if (argv[i] === '--root' && i + 1 < argv.length) root = argv[++i];
    else { console.error(`usage: node scripts/gen-constants.mjs [--check] [--root DIR]  (unknown argument '${argv[i]}')`); return 2; }
  }
  let want;
  try {
    want = render(collect(root));
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    console.error(`gen-constants: ${e.message}`);
    return 2;
  }
  const file = join(root, OUT), have = existsSync(file) ? readFileSync(file, 'utf8') : null;
  if (check) {
    if (have === want) return 0;
    const why = have === null ? ['the file does not exist'] : drift(have, want);
    console.error(`gen-constants: ${OUT} is out of date with ${HEADER}:\n  ${why.join('\n  ')}\n` +
      'regenerate it: node scripts/gen-constants.mjs (scripts/build-wasm.sh does), and commit it');
    return 1;
  }
  if (have !== want) { writeFileSync(file, want); console.log(`gen-constants: wrote ${OUT}`); }
  return 0;
}

process.exitCode = main(process.argv.slice(2));

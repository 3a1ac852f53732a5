// The package's command (`bin/ddpm-wasm.mjs`, package.json "bin"), as `npx ddpm-wasm` runs it in a project that
// installed the packed tarball:
//   - it is packed, with its shebang, and linked as node_modules/.bin/ddpm-wasm; --version, sample --help;
//   - `sample` writes the PNG (and --raw floats) of the native `ddpm sample` with the same options, byte for byte:
//     with --scale / --class K / --guidance / --sampler, with the defaults (the scale ceil(112 / S), 4 for these
//     28 px images; no guidance) plus --class all, --first-image, --opt and --spacing, and with --class -1 (the
//     null class) at --scale 1; --quiet prints nothing;
//   - usage errors (an unknown option, a malformed value, no --seed, no command, --steps outside the model's 1..T,
//     a --class outside -1..classes-1, guidance with the null class, an --out that is not .png) exit 2 with one
//     line on stderr, the native CLI's message (npx for the unknown option and the missing model; the linked file
//     itself for the other error cases);
//   - run errors exit 1 with one line: a missing model file (the message names it), an unknown sampler, an
//     unwritable --out; nothing is written then;
//   - `info` reads a model from a path and from an http URL; `info --json` is the Engine's config.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI, MODEL, PKG, packAndInstall, run, serve } from './helpers.mjs';

let tmp, app, tgz;

before(() => {
  ({ tmp, app, tgz } = packAndInstall('ddpm-bin-'));
  fs.copyFileSync(MODEL, path.join(app, 'model.safetensors'));
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const npx = (args) => spawnSync('npx', ['ddpm-wasm', ...args], { cwd: app, encoding: 'utf8' });
// the file npx runs, without npm's start-up (a second or two a call on a busy machine): for the many error cases
const bin = (args) => spawnSync(path.join(app, 'node_modules/.bin/ddpm-wasm'), args, { cwd: app, encoding: 'utf8' });
const oneLine = (s) => {
  const lines = s.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${s}`);
  return lines[0];
};
const same = (a, b) => fs.readFileSync(path.join(app, a)).equals(fs.readFileSync(path.join(app, b)));

test('packed with its shebang and linked as node_modules/.bin/ddpm-wasm', () => {
  const files = run('tar', ['-tzf', tgz], tmp).split('\n');
  assert.ok(files.includes('package/bin/ddpm-wasm.mjs'), 'bin/ddpm-wasm.mjs is packed');
  assert.equal(PKG.bin['ddpm-wasm'], 'bin/ddpm-wasm.mjs');
  const bin = path.join(app, 'node_modules/.bin/ddpm-wasm');
  assert.ok(fs.existsSync(bin), 'npm linked the command');
  assert.match(fs.readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const v = npx(['--version']);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout, `ddpm-wasm ${PKG.version}\n`);
  const h = npx(['sample', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /^usage: ddpm-wasm sample MODEL --seed S/);
});

const CASES = [
  ['--seed', '3', '--batch', '4', '--sampler', 'ddim', '--steps', '10', '--class', '3', '--guidance', '2', '--scale', '3'],
  // the defaults (scale ceil(112 / 28) = 4, no guidance) and the other run options
  ['--seed', '11', '--batch', '5', '--class', 'all', '--first-image', '7', '--sampler', 'ddim', '--opt', 'eta=0.5',
    '--steps', '8', '--spacing', 'trailing'],
  // the null class, the images at their own size
  ['--seed', '4', '--batch', '2', '--class', '-1', '--steps', '4', '--scale', '1'],
];
// the PNG's width (IHDR) and the grid's at scale k: ceil(sqrt(B)) columns of 28 px tiles, 2 px padding
const pngWidth = (file) => fs.readFileSync(path.join(app, file)).readUInt32BE(16);
const WIDTHS = [(2 * 30 + 2) * 3, (3 * 30 + 2) * 4, (2 * 30 + 2) * 1];

for (const [i, args] of CASES.entries()) {
  test(`npx ddpm-wasm sample = the native ddpm sample, byte for byte: ${args.join(' ')}`, { skip: !fs.existsSync(CLI) && 'no native CLI (build/ddpm)' }, () => {
    const r = npx(['sample', 'model.safetensors', ...args, '--out', `npx${i}.png`, '--raw', `npx${i}.f32`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^wrote npx${i}\\.png and npx${i}\\.f32 in `, 'm'), 'progress on stderr');
    run(CLI, ['sample', 'model.safetensors', ...args, '--out', `cli${i}.png`, '--raw', `cli${i}.f32`, '--quiet'], app);
    assert.ok(same(`npx${i}.png`, `cli${i}.png`), 'the PNG equals the native CLI\'s');
    assert.equal(pngWidth(`npx${i}.png`), WIDTHS[i], 'the scale given, or the default ceil(112 / S)');
    assert.ok(same(`npx${i}.f32`, `cli${i}.f32`), 'the floats equal the native CLI\'s --raw');
  });
}

test('--quiet: nothing on stderr, the same file', { skip: !fs.existsSync(CLI) && 'no native CLI (build/ddpm)' }, () => {
  const q = bin(['sample', 'model.safetensors', '--seed', '5', '--steps', '3', '--quiet', '--out', 'quiet.png']);
  assert.equal(q.status, 0, q.stderr);
  assert.equal(q.stderr, '', '--quiet prints nothing');
  run(CLI, ['sample', 'model.safetensors', '--seed', '5', '--steps', '3', '--quiet', '--out', 'cli-quiet.png'], app);
  assert.ok(same('quiet.png', 'cli-quiet.png'));
});

test('usage errors: exit 2, one line on stderr', () => {
  for (const [args, re] of [
    [['sample', 'model.safetensors', '--seed', '1', '--bogus', '3', '--out', 'x.png'], /unknown option '--bogus'/],
    [['sample', 'model.safetensors', '--seed', '1', '--batch', '0', '--out', 'x.png'], /--batch must be an integer in 1\.\.4096, got '0'/],
    [['sample', 'model.safetensors', '--seed', 'seven', '--out', 'x.png'], /--seed must be an integer/],
    [['sample', 'model.safetensors', '--out', 'x.png'], /--seed is required/],
    [['sample', 'model.safetensors', '--seed', '1'], /--out \(PNG\) or --raw \(float32\) is required/],
    [['sample', 'model.safetensors', '--seed', '1', '--scale', '33', '--out', 'x.png'], /--scale must be an integer in 1\.\.32/],
    [['sample', 'model.safetensors', '--seed', '-1', '--out', 'x.png'], /--seed must be an integer in 0\.\.2\^53-1 \(9007199254740991; the native CLI takes up to 2\^64-1\), got '-1'/],
    [['sample', 'model.safetensors', '--seed', '1', '--steps', '0', '--out', 'x.png'], /--steps must be an integer in 1\.\.1000 \(the model's T\), got 0/],
    [['sample', 'model.safetensors', '--seed', '1', '--steps', '100000', '--out', 'x.png'], /--steps must be an integer in 1\.\.1000 \(the model's T\), got 100000/],
    [['sample', 'model.safetensors', '--seed', '1', '--steps', '2.5', '--out', 'x.png'], /--steps must be an integer, got '2\.5'/],
    [['sample', 'model.safetensors', '--seed', '1', '--class', '10', '--out', 'x.png'], /--class must be -1 \(the null class\), 0\.\.9 or 'all', got '10'/],
    [['sample', 'model.safetensors', '--seed', '1', '--class', '-1', '--guidance', '2', '--out', 'x.png'], /--guidance 2 cannot be used with --class -1: the null class is sampled without guidance/],
    [['sample', 'model.safetensors', '--seed', '1', '--guidance', '2', '--out', 'x.png'], /--guidance 2 needs --class 0\.\.9 or 'all'/],
    [['sample', 'model.safetensors', '--seed', '1', '--out', 'x.jpg'], /--out must name a \.png file \(PNG is the only image format written\), got 'x\.jpg'/],
    [['sample', '--seed', '1', '--out', 'x.png'], /sample needs a MODEL/],
    [['info'], /info needs a MODEL/],
    [[], /no command/],
    [['smaple'], /unknown command 'smaple'/],
  ]) {
    const r = (re.source.includes('bogus') ? npx : bin)(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit 2 (got ${r.status}: ${r.stderr})`);
    assert.match(oneLine(r.stderr), new RegExp(`^ddpm-wasm: .*${re.source}.*\\(see ddpm-wasm .*--help\\)$`));
  }
  assert.ok(!fs.existsSync(path.join(app, 'x.png')) && !fs.existsSync(path.join(app, 'x.jpg')));
});

test('run errors: exit 1, one line naming what failed', () => {
  const missing = npx(['sample', 'no-such-model.safetensors', '--seed', '1', '--out', 'y.png']);
  assert.equal(missing.status, 1, missing.stderr);
  assert.match(oneLine(missing.stderr), /^ddpm-wasm: cannot read .*no-such-model\.safetensors/);
  const info = bin(['info', 'no-such-model.safetensors']);
  assert.equal(info.status, 1);
  assert.match(oneLine(info.stderr), /no-such-model\.safetensors/);
  const sampler = bin(['sample', 'model.safetensors', '--seed', '1', '--sampler', 'nope', '--out', 'y.png']);
  assert.equal(sampler.status, 1);
  assert.match(oneLine(sampler.stderr), /^ddpm-wasm: no sampler named 'nope'/);
  const dir = bin(['sample', 'model.safetensors', '--seed', '1', '--out', 'no-dir/y.png']);
  assert.equal(dir.status, 1);
  assert.match(oneLine(dir.stderr), /^ddpm-wasm: --out no-dir\/y\.png: cannot write into/);
  const notModel = bin(['info', 'package.json']);
  assert.equal(notModel.status, 1);
  assert.match(oneLine(notModel.stderr), /^ddpm-wasm: /);
  assert.ok(!fs.existsSync(path.join(app, 'y.png')));
});

test('info: a path and an http URL; --json is the Engine\'s config', async () => {
  const local = npx(['info', 'model.safetensors']);
  assert.equal(local.status, 0, local.stderr);
  assert.match(local.stdout, /^image size +28 x 28$/m);
  assert.match(local.stdout, /^parameters +1,624,577$/m);
  const json = JSON.parse(bin(['info', 'model.safetensors', '--json']).stdout);
  assert.equal(json.imageSize, 28);
  assert.equal(json.numClasses, 10);
  assert.equal(json.metadata['ddpm.dtype'], 'I8');
  // a URL: the server runs in this process, so the command must not block it
  const srv = await serve(app);
  try {
    const { stdout } = await promisify(execFile)('npx', ['ddpm-wasm', 'info', `${srv.url}model.safetensors`], { cwd: app });
    assert.equal(stdout.replace(/^model .*\n/, ''), local.stdout.replace(/^model .*\n/, ''), 'the same model from a URL');
  } finally {
    await srv.close();
  }
});

#!/usr/bin/env node
/**
 * ddpm-wasm — the npm package's command line (`npx ddpm-wasm ...` in a project that installed the package). It runs
 * the package's own Engine (web/ddpm.js + web/dist/ddpm.wasm), so it needs no native build; `sample` writes the grid
 * PNG with result.png(), which holds exactly the bytes `ddpm sample ... --out` of the native CLI writes for the same
 * options (the options below mean what they mean there, with the same defaults).
 *
 * Errors: one line "ddpm-wasm: <message>" on stderr; exit code 2 for a usage error (an unknown option, a malformed
 * value, a missing argument), 1 for a failure while working (the model cannot be read, the run fails, the file
 * cannot be written).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Engine, DdpmError } from '../web/ddpm.js';

const USAGE_MAIN = `usage: ddpm-wasm <command> [arguments]

commands:
  sample MODEL --seed S [options] --out GRID.png
                      draw samples; writes the grid PNG (the native \`ddpm sample --out\` file, byte for byte)
  info MODEL [--json] the model's config, schedule, size and metadata
  samplers            the registered samplers and their options
  help [COMMAND]      this text, or a command's usage (also: ddpm-wasm COMMAND --help)
  version             the package version (also: --version)

MODEL is a path (a .safetensors file, or a diffusers UNet2DModel folder), an http(s) URL of either, or a Hugging
Face hub id 'hf:OWNER/REPO[@REVISION]'. Errors print "ddpm-wasm: <message>" on stderr and exit 2 (usage) or 1.
`;

const USAGE_SAMPLE = `usage: ddpm-wasm sample MODEL --seed S [options] --out GRID.png [--raw OUT.f32]

  --seed S            RNG seed, an integer 0 .. 2^53-1 (required; the native CLI takes up to 2^64-1)
  --batch B           number of images, 1 .. 4096 (default 1)
  --first-image K     global index of image 0 (default 0)
  --sampler NAME      default: the model's (ddpm, or what its scheduler config names); see \`ddpm-wasm samplers\`
  --opt NAME=VALUE    a sampler option (repeatable): a number, true/false/yes/no/on/off, or a choice's name
  --steps N           sampling steps, 1 .. T, the model's number of timesteps (default: T, every one)
  --spacing S         timestep grid: leading | trailing | linspace (default: the model's, else leading)
  --class C           conditional models: a class label 0 .. classes-1, -1 for the null class (unconditional
                      samples, as without --class), or 'all': image k gets class (K + k) % classes
  --guidance W        classifier-free guidance scale, 0 .. 100 (default 1 = none; other values need --class
                      0 .. classes-1 or 'all': the null class is sampled without guidance)
  --steps-offset N    added to every timestep of the leading grid (diffusers' steps_offset)
  --deep-cache K      DeepCache: a full model evaluation every K steps (K >= 2; approximate; default off)
  --quantize Q        f32 (as stored, default), f16 or i8: round the weights on load
  --out GRID.png      the grid: ceil(sqrt(B)) columns, 2 px padding, grey (1 channel) or RGB (3); the name
                      must end in .png (PNG is the only image format written)
  --raw OUT.f32       the final tensor [B, C, S, S] as float32 little-endian (one of --out and --raw is required)
  --scale K           upscale the PNG K times, nearest neighbour, 1 .. 32 (default, as the native CLI:
                      ceil(112 / S) for S x S images: 4 for 28 or 32 px, 2 for 64, 1 from 112 on)
  --quiet             no progress output (progress goes to stderr)
`;

const USAGE_INFO = `usage: ddpm-wasm info MODEL [--json]

  --json              the whole config (Engine model.config) as JSON on stdout
  --quantize Q        f32 (default), f16 or i8: round the weights on load
`;

const USAGES = { sample: USAGE_SAMPLE, info: USAGE_INFO, samplers: 'usage: ddpm-wasm samplers\n' };

class UsageError extends Error {}
const usage = (msg) => { throw new UsageError(msg); };
let current = null; // the command being run, for the usage hint

/* argv -> { positional, flags } by a table { name: { value: bool, repeat: bool } }; --name value or --name=value. */
function parseArgs(command, argv, spec) {
  const positional = [], flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') return { help: true };
    if (!a.startsWith('-') || a === '-') { positional.push(a); continue; }
    if (!a.startsWith('--')) usage(`unknown option '${a}'`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const f = spec[name];
    if (!f) usage(`unknown option '--${name}' for ${command}`);
    let value = true;
    if (f.value) {
      if (eq >= 0) value = a.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      else usage(`--${name} needs a value`);
    } else if (eq >= 0) usage(`--${name} takes no value`);
    if (f.repeat) (flags[name] ??= []).push(value);
    else if (name in flags) usage(`--${name} is given more than once`);
    else flags[name] = value;
  }
  return { positional, flags };
}

function int(flag, s, lo, hi, range = `${lo}..${hi}`) {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || BigInt(s) < BigInt(lo) || BigInt(s) > BigInt(hi))
    usage(`--${flag} must be an integer in ${range}, got '${s}'`);
  return Number(s);
}

/* The native CLI's default --scale for S x S images: ceil(112 / S), at most 32 (src/cli: cli_default_scale). */
const defaultScale = (imageSize) => Math.min(32, Math.ceil(112 / imageSize));

const isPngName = (file) => /[^/]\.png$/i.test(file);

function num(flag, s) {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v)) usage(`--${flag} must be a finite number, got '${s}'`);
  return v;
}

function optValue(s) {
  if (/^(true|yes|on)$/.test(s)) return true;
  if (/^(false|no|off)$/.test(s)) return false;
  const v = Number(s);
  return s.trim() !== '' && Number.isFinite(v) ? v : s;
}

/* Dies (exit 1) unless the directory `file` goes into exists and is writable: checked before a run. */
function checkWritable(flag, file) {
  const dir = path.dirname(path.resolve(file));
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new DdpmError('IO', `${flag} ${file}: cannot write into ${dir}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}`);
  }
}

const isUrlOrHub = (s) => /^(hf:|https?:|file:)/.test(s);

async function loadModel(engine, src, quantize) {
  // a local path as given; a URL or hub id goes through as it is (engine.loadModel fetches it)
  return engine.loadModel(isUrlOrHub(src) ? src : path.resolve(src), quantize ? { quantize } : {});
}

const QUANTIZE = ['f32', 'f16', 'i8'];

async function cmdSample(argv) {
  const spec = {};
  for (const n of ['seed', 'batch', 'first-image', 'sampler', 'steps', 'spacing', 'class', 'guidance', 'steps-offset',
    'deep-cache', 'quantize', 'out', 'raw', 'scale']) spec[n] = { value: true };
  spec.opt = { value: true, repeat: true };
  spec.quiet = { value: false };
  const a = parseArgs('sample', argv, spec);
  if (a.help) return help('sample');
  const { positional: pos, flags: f } = a;
  if (pos.length !== 1) usage(pos.length ? `unexpected argument '${pos[1]}'` : 'sample needs a MODEL');
  if (f.seed === undefined) usage('--seed is required (an integer in 0..2^53-1)');
  if (f.out === undefined && f.raw === undefined) usage('--out (PNG) or --raw (float32) is required');
  const opts = { seed: int('seed', f.seed, 0, Number.MAX_SAFE_INTEGER,
    '0..2^53-1 (9007199254740991; the native CLI takes up to 2^64-1)') };
  if (f.out !== undefined && !isPngName(f.out))
    usage(`--out must name a .png file (PNG is the only image format written), got '${f.out}'`);
  const batch = int('batch', f.batch, 1, 4096) ?? 1;
  opts.batch = batch;
  const first = int('first-image', f['first-image'], 0, 4294967295);
  if (first !== undefined) opts.firstImage = first;
  if (f.sampler !== undefined) opts.sampler = f.sampler;
  // --steps: an integer now, its range (1..T) once the model is loaded
  if (f.steps !== undefined && !/^-?\d+$/.test(f.steps)) usage(`--steps must be an integer, got '${f.steps}'`);
  if (f.spacing !== undefined) {
    if (!['leading', 'trailing', 'linspace'].includes(f.spacing))
      usage(`--spacing must be leading, trailing or linspace, got '${f.spacing}'`);
    opts.spacing = f.spacing;
  }
  const classAll = f.class === 'all';
  if (f.guidance !== undefined) {
    opts.guidance = num('guidance', f.guidance);
    if (opts.guidance < 0 || opts.guidance > 100) usage(`--guidance must be a number in 0..100, got '${f.guidance}'`);
  }
  if (f['steps-offset'] !== undefined) opts.stepsOffset = int('steps-offset', f['steps-offset'], 0, 100000);
  if (f['deep-cache'] !== undefined) opts.deepCache = int('deep-cache', f['deep-cache'], 0, 1000);
  if (f.opt) {
    opts.samplerOptions = {};
    for (const o of f.opt) {
      const eq = o.indexOf('=');
      if (eq <= 0 || eq === o.length - 1) usage(`--opt needs NAME=VALUE, got '${o}'`);
      const name = o.slice(0, eq);
      if (name in opts.samplerOptions) usage(`option ${name} is given more than once`);
      opts.samplerOptions[name] = optValue(o.slice(eq + 1));
    }
  }
  if (f.quantize !== undefined && !QUANTIZE.includes(f.quantize))
    usage(`--quantize must be f32, f16 or i8, got '${f.quantize}'`);
  const scaleArg = int('scale', f.scale, 1, 32);
  const quiet = f.quiet === true;
  if (f.out !== undefined) checkWritable('--out', f.out);
  if (f.raw !== undefined) checkWritable('--raw', f.raw);

  const engine = await Engine.load();
  try {
    const model = await loadModel(engine, pos[0], f.quantize);
    const c = model.config;
    // what depends on the model, with the native CLI's words: --steps in 1..T, --class, --guidance
    if (f.steps !== undefined) {
      if (BigInt(f.steps) < 1n || BigInt(f.steps) > BigInt(c.numTimesteps))
        usage(`--steps must be an integer in 1..${c.numTimesteps} (the model's T), got ${f.steps}`);
      opts.steps = Number(f.steps);
    }
    if (f.class !== undefined) {
      const nc = c.numClasses;
      if (!nc) usage(`--class needs a class-conditional model; ${pos[0]} is unconditional`);
      if (classAll) {
        opts.classLabel = Array.from({ length: batch }, (_, k) => ((first ?? 0) + k) % nc);
      } else {
        const lo = c.nullClass ? -1 : 0;
        if (!/^-?\d+$/.test(f.class) || Number(f.class) < lo || Number(f.class) > nc - 1) {
          usage(c.nullClass ? `--class must be -1 (the null class), 0..${nc - 1} or 'all', got '${f.class}'`
            : `--class must be 0..${nc - 1} or 'all' (this model has no null class), got '${f.class}'`);
        }
        opts.classLabel = Number(f.class);
      }
    }
    if (opts.guidance !== undefined && opts.guidance !== 1) {
      if (!c.numClasses) usage(`--guidance needs a class-conditional model; ${pos[0]} is unconditional`);
      if (f.class === undefined) usage(`--guidance ${f.guidance} needs --class 0..${c.numClasses - 1} or 'all'`);
      if (opts.classLabel === -1) {
        usage(`--guidance ${f.guidance} cannot be used with --class -1: the null class is sampled without guidance ` +
          `(give --class 0..${c.numClasses - 1} or 'all', or no --guidance)`);
      }
    }
    const scale = scaleArg ?? defaultScale(c.imageSize);
    const t0 = performance.now();
    if (!quiet) {
      let decile = 0;
      opts.onStep = (s) => {
        if (s.step === 1) {
          process.stderr.write(`sampling ${batch} image${batch === 1 ? '' : 's'} of ${c.inChannels}x${c.imageSize}x` +
            `${c.imageSize} with ${opts.sampler ?? c.defaults.sampler}, ${s.numSteps} step${s.numSteps === 1 ? '' : 's'}\n`);
        }
        const d = Math.floor((s.step * 10) / s.numSteps);
        if (d !== decile || s.step === s.numSteps) {
          if (d === decile && s.step === s.numSteps) return;
          decile = d;
          const el = (performance.now() - t0) / 1000;
          process.stderr.write(`step ${s.step}/${s.numSteps}  t=${s.t}  ${(s.step / el).toFixed(2)} it/s  ` +
            `elapsed ${el.toFixed(1)} s\n`);
        }
      };
    }
    const r = await model.sample(opts);
    const written = [];
    if (f.out !== undefined) { write(f.out, r.png({ scale })); written.push(f.out); }
    if (f.raw !== undefined) {
      write(f.raw, new Uint8Array(r.images.buffer, r.images.byteOffset, r.images.byteLength));
      written.push(f.raw);
    }
    if (!quiet) process.stderr.write(`wrote ${written.join(' and ')} in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
  } finally {
    engine.dispose();
  }
}

function write(file, bytes) {
  try {
    fs.writeFileSync(file, bytes);
  } catch (e) {
    throw new DdpmError('IO', `cannot write ${file}: ${e.message}`);
  }
}

const fmtInt = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

async function cmdInfo(argv) {
  const a = parseArgs('info', argv, { json: { value: false }, quantize: { value: true } });
  if (a.help) return help('info');
  const { positional: pos, flags: f } = a;
  if (pos.length !== 1) usage(pos.length ? `unexpected argument '${pos[1]}'` : 'info needs a MODEL');
  if (f.quantize !== undefined && !QUANTIZE.includes(f.quantize))
    usage(`--quantize must be f32, f16 or i8, got '${f.quantize}'`);
  const engine = await Engine.load();
  try {
    const c = (await loadModel(engine, pos[0], f.quantize)).config;
    if (f.json) { process.stdout.write(`${JSON.stringify(c, null, 2)}\n`); return; }
    const lines = [
      ['model', pos[0]],
      ['format', c.format === 'diffusers' ? 'diffusers UNet2DModel' : 'ddpm (training/model.py)'],
      ['channels', `in ${c.inChannels}, out ${c.outChannels}; level widths ${c.levelChannels.join(' ')}`],
      ['res blocks', `${c.numResBlocks} per level`],
      ['classes', c.numClasses ? `${c.numClasses} (labels 0..${c.numClasses - 1}${c.nullClass ? `; ${c.numClasses} = the null class` : ', no null class'})` : '0 (unconditional)'],
      ['image size', `${c.imageSize} x ${c.imageSize}`],
      ['prediction', c.prediction],
      ['variance', c.variance],
      ['schedule', `${c.schedule}, T = ${c.numTimesteps}${c.schedule === 'cosine' ? '' : `, beta ${c.betaStart} .. ${c.betaEnd}`}${c.rescaleZeroSnr ? ', zero terminal SNR' : ''}`],
      ['parameters', fmtInt(c.params)],
      ['cost', `${(c.flops / 1e9).toFixed(3)} GFLOP per image evaluation`],
      ['defaults', `sampler ${c.defaults.sampler}, spacing ${c.defaults.spacing}, steps offset ${c.defaults.stepsOffset}`],
    ];
    for (const [k, v] of lines) process.stdout.write(`${k.padEnd(15)}${v}\n`);
    const meta = Object.entries(c.metadata ?? {});
    if (meta.length) process.stdout.write('metadata\n');
    for (const [k, v] of meta) process.stdout.write(`  ${k} = ${v.length > 100 ? `${v.slice(0, 97)}...` : v}\n`);
  } finally {
    engine.dispose();
  }
}

async function cmdSamplers(argv) {
  const a = parseArgs('samplers', argv, {});
  if (a.help) return help('samplers');
  if (a.positional.length) usage(`unexpected argument '${a.positional[0]}'`);
  const engine = await Engine.load();
  try {
    for (const s of engine.samplers()) {
      process.stdout.write(`${s.name.padEnd(14)}${s.description} (${s.evalsPerStep} evaluation${s.evalsPerStep === 1 ? '' : 's'} per step)\n`);
      for (const o of s.options) {
        const range = o.type === 'choice' ? o.choices.join(' | ') : o.type === 'bool' ? 'true | false' : `${o.min} .. ${o.max}`;
        process.stdout.write(`    --opt ${o.name}=${o.type.toUpperCase()}  ${range}, default ${o.default}: ${o.help}\n`);
      }
    }
  } finally {
    engine.dispose();
  }
}

function help(command) {
  process.stdout.write(USAGES[command] ?? USAGE_MAIN);
}

function version() {
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`ddpm-wasm ${pkg.version}\n`);
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) usage('no command (see ddpm-wasm --help)');
  if (cmd === '--help' || cmd === '-h') return help();
  if (cmd === 'help') {
    if (rest.length > 1 || (rest.length && !USAGES[rest[0]])) usage(`help: no command named '${rest.join(' ')}'`);
    return help(rest[0]);
  }
  if (cmd === 'version' || cmd === '--version') return version();
  current = USAGES[cmd] ? cmd : null;
  if (cmd === 'sample') return cmdSample(rest);
  if (cmd === 'info') return cmdInfo(rest);
  if (cmd === 'samplers') return cmdSamplers(rest);
  usage(`unknown command '${cmd}' (see ddpm-wasm --help)`);
}

main(process.argv.slice(2)).catch((e) => {
  const usageError = e instanceof UsageError;
  const msg = String(e?.message ?? e).split('\n')[0];
  const hint = usageError && !/--help\)$/.test(msg) ? ` (see ddpm-wasm ${current ? `${current} ` : ''}--help)` : '';
  process.stderr.write(`ddpm-wasm: ${msg}${hint}\n`);
  process.exitCode = usageError ? 2 : 1;
});

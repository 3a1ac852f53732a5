/**
 * hub.js — where a model's bytes come from, before the engine sees them: a weights file (URL, path, bytes, Response,
 * Blob), a diffusers UNet2DModel as { weights, config, scheduler? }, a folder of one (a URL or, in Node, a path ending
 * in '/'; files picked in a page), or a Hugging Face hub repo 'hf:OWNER/REPO[@REVISION]'. Used by ddpm.js
 * (Engine.loadModel) and, on its own, by the demo page's main thread, which downloads here and hands the bytes to
 * its workers. Needs no engine; every failure is a DdpmError whose message names the URL.
 *
 * A folder (or repo) is read the way diffusers lays one out:
 *   model_index.json   optional; when there, its "unet" must be ["diffusers", "UNet2DModel"] and the files live in
 *                      unet/ and scheduler/ (a pipeline with vae / text_encoder, or a UNet2DConditionModel, is a
 *                      latent text-to-image pipeline such as Stable Diffusion: refused, UNSUPPORTED)
 *   config.json        required; its _class_name is checked before any weights are downloaded
 *   diffusion_pytorch_model[.VARIANT].safetensors   the variant (opts.variant, e.g. 'fp16') falls back to the plain
 *                      file on 404; a repo with only diffusion_pytorch_model.bin is refused (UNSUPPORTED)
 *   scheduler_config.json   optional: 404 means DDPMScheduler's defaults
 * A hub repo's file is {hubBase}/{OWNER}/{REPO}/resolve/{REVISION}/{file} (the hub redirects large files to its CDN;
 * fetch follows). Downloads report onProgress({ file, url, loaded, total }) and land in one Uint8Array allocated
 * from Content-Length; with the Cache API (browsers) each file is kept under its resolve URL in 'ddpm-models-v1',
 * and so is the absence of an optional one (a 404 entry), so that a cached model loads offline.
 */
import { DdpmError, fail } from './errors.js';

const IS_NODE = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;

/** The cache (Cache API) hub and folder downloads are kept in; the demo page keeps its shipped models there too. */
export const CACHE_NAME = 'ddpm-models-v1';

/** Where 'hf:' ids resolve when a call gives no hubBase (Engine.hubBase reads and sets this). */
export const hubDefaults = { base: 'https://huggingface.co' };

const WEIGHTS = 'diffusion_pytorch_model';
const BIN_TOOL = 'training/bin_to_safetensors.py';
const TEXT_TO_IMAGE = 'a latent text-to-image pipeline (like Stable Diffusion: a VAE, a text encoder and a ' +
  'text-conditioned UNet2DConditionModel), which this engine does not run; it runs pixel-space UNet2DModel ' +
  'checkpoints (DDPMPipeline / DDIMPipeline repos)';

const isResponse = (v) => typeof Response !== 'undefined' && v instanceof Response;
const isBlob = (v) => typeof Blob !== 'undefined' && v instanceof Blob;
const isFileList = (v) => typeof FileList !== 'undefined' && v instanceof FileList;
const hasScheme = (s) => /^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(s);
const utf8 = new TextEncoder();

/* ---- errors with the URL in them ---- */

function abortError(signal, url) {
  const r = signal && signal.reason;
  return new DdpmError('ABORTED', `${url}: aborted${r && r.message ? `: ${r.message}` : ''}`, { cause: r });
}

function checkAbort(signal, url) {
  if (signal && signal.aborted) throw abortError(signal, url);
}

/** The DdpmError for an HTTP status that is not ok. */
export function httpError(status, url, statusText = '') {
  const why = status === 404 || status === 410 ? 'not found'
    : status === 401 ? 'unauthorized, the repo may be gated or private (or may not exist)'
      : status === 403 ? 'forbidden, the repo may be gated or private'
        : `the server answered ${statusText || 'an error'}`;
  return new DdpmError('IO', `${url}: ${why} (HTTP ${status})`);
}

/* fetch() rejects with a TypeError for a network failure and for a CORS refusal alike (a page may not tell them
 * apart), with an AbortError for a signal. */
function fetchError(e, url, signal) {
  if ((signal && signal.aborted) || (e && e.name === 'AbortError')) return abortError(signal, url);
  return new DdpmError('IO', `${url}: the request failed (${e && e.message}); a CORS policy (the server must send ` +
    'Access-Control-Allow-Origin) or the network may be the cause', { cause: e });
}

async function get(url, { signal, method = 'GET' } = {}) {
  checkAbort(signal, url);
  try {
    return await fetch(url, { method, signal });
  } catch (e) {
    throw fetchError(e, url, signal);
  }
}

/* ---- response bodies ---- */

/**
 * The body of `res` as one Uint8Array. With a Content-Length (and no Content-Encoding) the array is allocated once at
 * that size and the chunks are read into it; otherwise the chunks are kept and joined at the end. onProgress gets
 * { file, url, loaded, total } after every chunk (total: Content-Length, or null). A body that ends before
 * Content-Length bytes is refused: IO, "truncated download: got N of M bytes".
 */
export async function readResponse(res, { url = res.url || 'the response', file = url, onProgress, signal } = {}) {
  const len = res.headers.get('Content-Length');
  const enc = res.headers.get('Content-Encoding');
  const total = len != null && /^\s*\d+\s*$/.test(len) && (!enc || enc === 'identity') ? Number(len) : null;
  const report = (loaded) => { if (onProgress) onProgress({ file, url, loaded, total }); };
  const truncated = (got, e) => new DdpmError('IO', `${url}: truncated download: got ${got} of ${total} bytes`,
    { cause: e });
  if (!res.body) { // an engine without readable streams
    let b;
    try { b = new Uint8Array(await res.arrayBuffer()); } catch (e) { throw fetchError(e, url, signal); }
    if (total != null && b.length < total) throw truncated(b.length);
    report(b.length);
    return b;
  }
  const reader = res.body.getReader();
  let buf = total != null ? new Uint8Array(total) : null, chunks = buf ? null : [], got = 0, done = false;
  try {
    for (;;) {
      checkAbort(signal, url);
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        if ((signal && signal.aborted) || e.name === 'AbortError') throw abortError(signal, url);
        if (total != null && got < total) throw truncated(got, e);
        throw new DdpmError('IO', `${url}: the download failed after ${got} bytes (${e.message})`, { cause: e });
      }
      if (r.done) { done = true; break; }
      const v = r.value;
      if (buf && got + v.length > buf.length) { chunks = [buf.subarray(0, got)]; buf = null; } // longer than announced
      if (buf) buf.set(v, got);
      else chunks.push(v);
      got += v.length;
      report(got);
    }
  } finally {
    if (!done) reader.cancel().catch(() => {});
  }
  if (total != null && got < total) throw truncated(got);
  if (buf) return buf;
  const out = new Uint8Array(got);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

/** The body of a Response that must be ok (the HTTP error otherwise). */
async function okBody(res, url, opts) {
  if (!res.ok) {
    await res.arrayBuffer().catch(() => {});
    throw httpError(res.status, url, res.statusText);
  }
  return readResponse(res, { ...opts, url });
}

/* ---- one file: a URL/path, bytes, a Response or a Blob ---- */

// Node's file system, imported only when a local path is read in Node. The specifier is computed and marked so
// that bundlers (webpack, Vite/Rollup, esbuild) leave it alone: a browser bundle of this package holds no node:
// import (package-tests/ builds one with each and checks).
const NODE_FS = ['node', 'fs/promises'].join(':');
async function nodeFs() {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_FS);
}

async function nodeReadFile(pathOrUrl, signal) {
  const fs = await nodeFs();
  try {
    return new Uint8Array(await fs.readFile(pathOrUrl, { signal }));
  } catch (e) {
    if (e.name === 'AbortError') throw abortError(signal, String(pathOrUrl));
    throw new DdpmError('IO', `cannot read ${pathOrUrl}: ${e.message}`, { cause: e });
  }
}

/** In Node: a plain path or a file: URL -> the path (or URL object); else null. */
function localPath(s) {
  if (!IS_NODE) return null;
  if (!hasScheme(s)) return s;
  const url = new URL(s);
  return url.protocol === 'file:' ? url : null;
}

const absolute = (s) => new URL(s, globalThis.location ? globalThis.location.href : undefined).href;

/** Bytes of `src`: ArrayBuffer / view (used as is), Response, Blob, URL or string (fetched; file: URLs and plain
 * paths are read from disk in Node). opts: { signal, onProgress }. */
export async function readBytes(src, what, opts = {}) {
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (isResponse(src)) {
    if (!src.ok) fail('IO', `${what}: HTTP ${src.status} ${src.statusText || ''}`.trim());
    return readResponse(src, { ...opts, file: what });
  }
  if (isBlob(src)) return new Uint8Array(await src.arrayBuffer());
  if (typeof src === 'string' || src instanceof URL) {
    const s = String(src), local = localPath(s);
    if (local) return nodeReadFile(local, opts.signal);
    const url = absolute(s);
    return okBody(await get(url, opts), url, { ...opts, file: what });
  }
  fail('INVALID_ARGUMENT', `${what}: expected a URL, a path, an ArrayBuffer, a typed array, a Blob or a Response`);
}

/* A config / scheduler given as an object or as JSON text -> its UTF-8 bytes; otherwise read as a file. */
async function jsonBytes(v, what, opts) {
  if (v == null) return null;
  if (typeof v === 'object' && !(v instanceof URL) && !(v instanceof ArrayBuffer) && !ArrayBuffer.isView(v) &&
    !isResponse(v) && !isBlob(v)) return utf8.encode(JSON.stringify(v));
  if (typeof v === 'string' && v.trimStart().startsWith('{')) return utf8.encode(v);
  return readBytes(v, what, opts);
}

/* ---- folders: a hub repo, a URL, a local directory (Node), files picked in a page ---- */

/* Each folder has: label (for messages), url(rel) (what messages name), get(rel, optional) -> bytes, or null when
 * optional and absent (404), and has(rel) -> boolean. */

async function openCache(opts) {
  if (opts.cache === false || typeof caches === 'undefined') return null;
  try { return await caches.open(CACHE_NAME); } catch { return null; }
}

function urlFolder(base, label, opts) {
  const cacheP = openCache(opts);
  const { signal, onProgress } = opts;
  return {
    label,
    url: (rel) => new URL(rel, base).href,
    async get(rel, optional = false) {
      const url = this.url(rel);
      checkAbort(signal, url);
      const cache = await cacheP;
      const hit = cache ? await cache.match(url).catch(() => null) : null;
      if (hit && hit.status === 404) return optional ? null : fail('IO', `${url}: not found (HTTP 404, cached)`);
      if (hit) {
        const b = new Uint8Array(await hit.arrayBuffer());
        if (onProgress) onProgress({ file: rel, url, loaded: b.length, total: b.length, cached: true });
        return b;
      }
      const res = await get(url, opts);
      if (optional && (res.status === 404 || res.status === 410)) {
        await res.arrayBuffer().catch(() => {}); // a short error page: read, so that the request ends cleanly
        if (cache) cache.put(url, new Response(null, { status: 404 })).catch(() => {}); // absent, offline too
        return null;
      }
      const bytes = await okBody(res, url, { signal, onProgress, file: rel });
      if (cache) { // not awaited: the bytes are here; a failure (quota) only means downloading again next time
        const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) };
        cache.put(url, new Response(bytes, { headers })).catch(() => {});
      }
      return bytes;
    },
    async has(rel) {
      const url = this.url(rel), res = await get(url, { signal, method: 'HEAD' });
      return res.ok;
    },
  };
}

function hubFolder(id, opts) {
  const m = /^([\w.-]+\/)?([\w.-]+)(?:@(.+))?$/.exec(id);
  if (!m) fail('INVALID_ARGUMENT', `hf:${id}: a hub model id is hf:OWNER/REPO or hf:OWNER/REPO@REVISION`);
  const base = String(opts.hubBase ?? hubDefaults.base).replace(/\/+$/, '');
  const repo = `${m[1] ?? ''}${m[2]}`, rev = m[3] ?? 'main';
  return urlFolder(`${base}/${repo}/resolve/${encodeURIComponent(rev)}/`, `hf:${id}`, opts);
}

function localFolder(dir, opts) {
  const root = dir instanceof URL ? decodeURIComponent(dir.pathname).replace(/\/+$/, '') : absPath(dir);
  const { signal, onProgress } = opts;
  return {
    label: String(dir),
    url: (rel) => `${root}/${rel}`,
    async get(rel, optional = false) {
      const p = this.url(rel), fs = await nodeFs();
      checkAbort(signal, p);
      let b;
      try {
        b = new Uint8Array(await fs.readFile(p, { signal }));
      } catch (e) {
        if (e.name === 'AbortError') throw abortError(signal, p);
        if (e.code === 'ENOENT' && optional) return null;
        throw new DdpmError('IO', `${p}: ${e.code === 'ENOENT' ? 'not found' : e.message}`, { cause: e });
      }
      if (onProgress) onProgress({ file: rel, url: p, loaded: b.length, total: b.length });
      return b;
    },
    async has(rel) {
      const fs = await nodeFs();
      return fs.stat(this.url(rel)).then((s) => s.isFile(), () => false);
    },
  };
}

function absPath(p) {
  const s = String(p).replace(/\/+$/, '');
  return s.startsWith('/') ? s : `${process.cwd()}/${s}`;
}

/* Files picked in a page (a FileList / File[]: paths from webkitRelativePath, else names) or a Map path -> Blob (a
 * dropped folder). A common top folder is dropped; a lone .safetensors file next to a config.json under another
 * name stands for diffusion_pytorch_model.safetensors. `single` is set when the files are one weights file alone. */
function filesFolder(files, opts) {
  let entries = files instanceof Map ? [...files] : Array.from(files, (f) => [f.webkitRelativePath || f.name, f]);
  entries = entries.map(([p, f]) => [String(p).replace(/^\/+/, ''), f]);
  const top = entries.length && entries.every(([p]) => p.includes('/')) ? entries[0][0].split('/')[0] : null;
  if (top && entries.every(([p]) => p.startsWith(`${top}/`)))
    entries = entries.map(([p, f]) => [p.slice(top.length + 1), f]);
  const map = new Map(entries);
  const tensors = entries.filter(([p]) => p.endsWith('.safetensors') && !p.includes('/'));
  if (map.has('config.json') && !map.has(`${WEIGHTS}.safetensors`) && tensors.length === 1)
    map.set(`${WEIGHTS}.safetensors`, tensors[0][1]);
  const { signal, onProgress } = opts;
  const label = top ? `${top}/` : 'the chosen files';
  return {
    label,
    single: !map.has('config.json') && !map.has('model_index.json') && tensors.length === 1 ? tensors[0] : null,
    url: (rel) => `${top ? `${top}/` : ''}${rel}`,
    async get(rel, optional = false) {
      const f = map.get(rel), where = this.url(rel);
      checkAbort(signal, where);
      if (!f) {
        if (optional) return null;
        fail('IO', `${where}: not found among ${label} (${entries.map(([p]) => p).join(', ') || 'none'})`);
      }
      const b = new Uint8Array(await f.arrayBuffer());
      if (onProgress) onProgress({ file: rel, url: where, loaded: b.length, total: b.length });
      return b;
    },
    async has(rel) { return map.has(rel); },
  };
}

/* ---- the diffusers layout ---- */

function parseJson(bytes, url) {
  let v;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    fail('FORMAT', `${url}: not valid JSON (${e.message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('FORMAT', `${url}: not a JSON object`);
  return v;
}

/* model_index.json -> the unet/ and scheduler/ prefixes (null: no scheduler), or a refusal naming what the pipeline
 * is. */
function pipelineLayout(index, url) {
  const unet = Array.isArray(index.unet) ? index.unet[1] : null;
  const latent = ['vae', 'text_encoder', 'text_encoder_2', 'tokenizer', 'image_encoder']
    .filter((k) => index[k] != null);
  const name = index._class_name ? `${index._class_name}` : 'this pipeline';
  if (latent.length || unet === 'UNet2DConditionModel')
    fail('UNSUPPORTED', `${url}: ${name} (unet ${unet ?? 'none'}` +
      `${latent.length ? `, with ${latent.join(', ')}` : ''}) is ${TEXT_TO_IMAGE}`);
  if (unet !== 'UNet2DModel')
    fail('UNSUPPORTED', `${url}: ${name} names ${unet ? `a ${unet} as its unet` : 'no unet'}; only diffusers ` +
      'UNet2DModel pipelines are supported');
  return { unet: 'unet/', scheduler: index.scheduler != null ? 'scheduler/' : null };
}

async function resolveFolder(dir, opts) {
  if (dir.single) return { weights: await dir.get(dir.single[0]), config: null, scheduler: null, where: dir.label };
  const indexBytes = await dir.get('model_index.json', true);
  const indexUrl = dir.url('model_index.json');
  const layout = indexBytes ? pipelineLayout(parseJson(indexBytes, indexUrl), indexUrl) : { unet: '', scheduler: '' };
  let cfgRel = `${layout.unet}config.json`, config = await dir.get(cfgRel, layout.unet !== '');
  if (!config) { // a flat pipeline, as google/ddpm-* are (diffusers then loads every part from the root)
    Object.assign(layout, { unet: '', scheduler: layout.scheduler == null ? null : '' });
    config = await dir.get(cfgRel = 'config.json');
  }
  const cls = parseJson(config, dir.url(cfgRel))._class_name;
  if (cls != null && cls !== 'UNet2DModel')
    fail('UNSUPPORTED', `${dir.url(cfgRel)}: _class_name is ${cls}: ` +
      (cls === 'UNet2DConditionModel' ? `the unet of ${TEXT_TO_IMAGE}`
        : 'only diffusers UNet2DModel checkpoints are supported'));
  const schedRel = layout.scheduler == null ? null : `${layout.scheduler}scheduler_config.json`;
  const scheduler = schedRel ? await dir.get(schedRel, true) : null;
  const names = opts.variant ? [`${WEIGHTS}.${opts.variant}`, WEIGHTS] : [WEIGHTS];
  let weights = null, weightsRel = null;
  for (const n of names) {
    weightsRel = `${layout.unet}${n}.safetensors`;
    if ((weights = await dir.get(weightsRel, true))) break;
  }
  if (!weights) {
    for (const n of names) {
      const bin = `${layout.unet}${n}.bin`;
      if (await dir.has(bin))
        fail('UNSUPPORTED', `${dir.url(bin)}: this repo has PyTorch pickle weights (.bin) only; this engine reads ` +
          `safetensors. Convert them with /usr/bin/python3 ${BIN_TOOL} ${n}.bin (it writes ${n}.safetensors)`);
    }
    fail('IO', `${dir.url(`${layout.unet}${WEIGHTS}.safetensors`)}: not found`);
  }
  return { weights, config, scheduler, where: dir.label === dir.url(layout.unet) ? dir.label
    : `${dir.label} (${dir.url(layout.unet)})` };
}

/* ---- the entry point ---- */

/**
 * Any model source -> { weights, config, scheduler, where }: the bytes the engine's loader takes (config and scheduler
 * null for this project's single-file format; scheduler null also when a folder has none) and a label for messages
 * (the hub id / folder URL; null for a single file). opts: { variant, onProgress, hubBase, cache, signal }.
 */
export async function resolveModel(src, opts = {}) {
  if (opts.onProgress != null && typeof opts.onProgress !== 'function')
    fail('INVALID_ARGUMENT', 'onProgress must be a function');
  if (opts.variant != null && !/^[\w-]+$/.test(opts.variant))
    fail('INVALID_ARGUMENT', `variant must be a name like fp16, got ${String(opts.variant)}`);
  const one = async (s) => ({ weights: await readBytes(s, 'model', opts), config: null, scheduler: null, where: null });
  if (typeof src === 'string' || src instanceof URL) {
    const s = String(src);
    if (s.startsWith('hf:')) return resolveFolder(hubFolder(s.slice(3), opts), opts);
    const local = localPath(s);
    if (local) {
      const st = await (await nodeFs()).stat(local).catch(() => null);
      if (s.endsWith('/') || (st && st.isDirectory())) return resolveFolder(localFolder(local, opts), opts);
      return one(local);
    }
    if (s.endsWith('/')) { const url = absolute(s); return resolveFolder(urlFolder(url, url, opts), opts); }
    return one(s);
  }
  if (isFileList(src) || src instanceof Map || (Array.isArray(src) && src.every(isBlob)))
    return resolveFolder(filesFolder(src, opts), opts);
  const isParts = src !== null && typeof src === 'object' && !(src instanceof ArrayBuffer) &&
    !ArrayBuffer.isView(src) && !isResponse(src) && !isBlob(src);
  if (!isParts) return one(src);
  if (src.weights == null) fail('INVALID_ARGUMENT', 'loadModel: a diffusers model needs { weights, config }');
  const [weights, config, scheduler] = await Promise.all([readBytes(src.weights, 'weights', opts),
    jsonBytes(src.config, 'config', opts), jsonBytes(src.scheduler, 'scheduler', opts)]);
  return { weights, config, scheduler, where: null };
}

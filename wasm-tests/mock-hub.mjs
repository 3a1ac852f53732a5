/**
 * mock-hub.mjs — a stand-in for the Hugging Face hub for the tests (Node and headless Chromium): a Node http server
 * on 127.0.0.1 (port 0) that answers the hub's public layout
 *
 *   GET|HEAD /{owner}/{repo}/resolve/{revision}/{file}
 *
 * from local folders, the way the real hub does in the parts web/hub.js relies on: large files (.safetensors, .bin)
 * are a 302 redirect to another path (/cdn/..., as the hub sends LFS files to its CDN), every answer carries CORS
 * headers (Access-Control-Allow-Origin: *, Content-Length exposed), a missing repo, revision or file is a 404.
 *
 *   const hub = await startMockHub({ root });      // root: the repository (tests/data/diffusers/ is read from it)
 *   engine.loadModel('hf:test/small-rgb', { hubBase: hub.url });
 *   hub.requests                                   // [{ method, path, status }] of every request, in order
 *   hub.addRepo('test/mine', dir)                  // one more repo: a folder
 *   await hub.close();                             // closes every connection and removes the temp folder
 *
 * The repos it makes (in a temp folder) and what each tests:
 *   test/small-rgb         config.json + diffusion_pytorch_model.safetensors + scheduler_config.json (DDPM)
 *   test/pipeline          model_index.json (DDPMPipeline) + unet/ + scheduler/ (a DDIMScheduler config)
 *   test/flat-pipeline     model_index.json beside config.json etc. at the root (as google/ddpm-cifar10-32 is)
 *   test/stable-diffusion  model_index.json of a latent text-to-image pipeline (vae, text_encoder, ...)
 *   test/sd-unet           a root config.json of a UNet2DConditionModel (+ weights that must not be downloaded)
 *   test/bin-only          config.json + diffusion_pytorch_model.bin
 *   test/fourier           a config with time_embedding_type "fourier" (the engine refuses it)
 *   test/gated             403 for every file
 *   test/truncated         the weights declare their full Content-Length, send half and close the connection
 *   test/no-cors           small-rgb without any CORS header (a browser must refuse it)
 *   test/slow              small-rgb with the weights sent in 64 KiB chunks 10 ms apart (progress, abort)
 * Revisions: 'main' and 'v1.0' (the same files). Bounded: loopback only, files up to 64 MiB, 32 connections.
 */
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX_FILE = 64 * 2 ** 20;
const CHUNK = 64 * 1024;
const REVISIONS = new Set(['main', 'v1.0']);
const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, ETag, X-Repo-Commit, X-Error-Code',
  'Cross-Origin-Resource-Policy': 'cross-origin',
};
const TYPES = { '.json': 'application/json; charset=utf-8', '.txt': 'text/plain; charset=utf-8' };
const isLarge = (file) => /\.(safetensors|bin)$/.test(file);

/** The standard test repos under `tmp`, made from the repository's tests/data/diffusers/; returns name -> folder. */
function makeRepos(root, tmp) {
  const D = path.join(root, 'tests', 'data', 'diffusers');
  const cfgFile = path.join(D, 'small-rgb', 'config.json');
  const weights = path.join(D, 'small-rgb', 'diffusion_pytorch_model.safetensors');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  const repos = {};
  const repo = (name, files) => {
    const dir = path.join(tmp, ...name.split('/'));
    for (const [rel, src] of Object.entries(files)) {
      const to = path.join(dir, rel);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      if (typeof src === 'string' && src.startsWith('/')) fs.copyFileSync(src, to);
      else fs.writeFileSync(to, typeof src === 'string' ? src : JSON.stringify(src, null, 2));
    }
    repos[name] = dir;
  };
  const small = { 'config.json': cfgFile, 'diffusion_pytorch_model.safetensors': weights,
    'scheduler_config.json': path.join(D, 'sampling', 'ddpm', 'scheduler_config.json') };
  for (const name of ['test/small-rgb', 'test/gated', 'test/truncated', 'test/no-cors', 'test/slow']) repo(name, small);
  repo('test/pipeline', {
    'model_index.json': { _class_name: 'DDPMPipeline', _diffusers_version: '0.21.4', scheduler: ['diffusers', 'DDIMScheduler'],
      unet: ['diffusers', 'UNet2DModel'] },
    'unet/config.json': cfgFile, 'unet/diffusion_pytorch_model.safetensors': weights,
    'scheduler/scheduler_config.json': path.join(D, 'sampling', 'ddim', 'scheduler_config.json'),
  });
  repo('test/flat-pipeline', { ...small, // google/ddpm-cifar10-32's layout: model_index.json beside the unet's files
    'model_index.json': { _class_name: 'DDPMPipeline', _diffusers_version: '0.1.1', scheduler: ['diffusers', 'DDPMScheduler'],
      unet: ['diffusers', 'UNet2DModel'] } });
  repo('test/stable-diffusion', {
    'model_index.json': { _class_name: 'StableDiffusionPipeline', _diffusers_version: '0.21.4',
      feature_extractor: ['transformers', 'CLIPImageProcessor'], safety_checker: ['stable_diffusion', 'StableDiffusionSafetyChecker'],
      scheduler: ['diffusers', 'PNDMScheduler'], text_encoder: ['transformers', 'CLIPTextModel'],
      tokenizer: ['transformers', 'CLIPTokenizer'], unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'] },
    'unet/config.json': { _class_name: 'UNet2DConditionModel', cross_attention_dim: 768, in_channels: 4, sample_size: 64 },
  });
  repo('test/sd-unet', { 'config.json': { _class_name: 'UNet2DConditionModel', cross_attention_dim: 768, in_channels: 4 },
    'diffusion_pytorch_model.safetensors': weights });
  repo('test/bin-only', { 'config.json': cfgFile, 'diffusion_pytorch_model.bin': 'PK\u0003\u0004 (a PyTorch zip pickle)' });
  repo('test/fourier', { 'config.json': { ...cfg, time_embedding_type: 'fourier' }, 'diffusion_pytorch_model.safetensors': weights });
  return repos;
}

/**
 * Starts the mock hub. opts: { root: the repository root (default: the folder above wasm-tests/), repos: extra
 * name -> folder }. Resolves { url, requests, addRepo(name, dir), close() }.
 */
export async function startMockHub({ root = fileURLToPath(new URL('..', import.meta.url)), repos = {} } = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ddpm-mock-hub-'));
  const all = { ...makeRepos(root, tmp), ...repos };
  const gated = new Set(['test/gated']), truncated = new Set(['test/truncated']), noCors = new Set(['test/no-cors']);
  const slow = new Set(['test/slow']);
  const requests = [];

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const parts = url.pathname.split('/').slice(1)
      .map((p) => { try { return decodeURIComponent(p); } catch { return '\0'; } });
    const cdn = parts[0] === 'cdn';
    const [owner, name] = cdn ? parts.slice(1, 3) : parts.slice(0, 2);
    const repoName = `${owner}/${name}`;
    const cors = noCors.has(repoName) ? {} : CORS;
    const log = (status) => { if (requests.length < 10000) requests.push({ method: req.method, path: url.pathname, status }); };
    const send = (status, text, headers = {}) => {
      const body = Buffer.from(text);
      res.writeHead(status, { ...cors, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      log(status);
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Allow-Headers': '*' });
      res.end();
      return log(204);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed', { Allow: 'GET, HEAD' });
    // /{owner}/{repo}/resolve/{rev}/{file...}  or  /cdn/{owner}/{repo}/{rev}/{file...}
    const rev = parts[3], fileParts = parts.slice(4); // the same places in both forms
    if ((!cdn && parts[2] !== 'resolve') || fileParts.length === 0) return send(404, 'not found');
    const dir = all[repoName];
    if (!dir) return send(404, 'Repository not found', { 'X-Error-Code': 'RepoNotFound' });
    if (gated.has(repoName)) return send(403, `Access to model ${repoName} is restricted`, { 'X-Error-Code': 'GatedRepo' });
    if (!REVISIONS.has(rev)) return send(404, 'Revision not found', { 'X-Error-Code': 'RevisionNotFound' });
    const rel = fileParts.join('/');
    const file = path.resolve(dir, rel);
    let st = null;
    if (!fileParts.some((p) => p === '..' || p === '' || p.includes('\0')) && file.startsWith(dir + path.sep)) {
      st = fs.statSync(file, { throwIfNoEntry: false });
    }
    if (!st || !st.isFile() || st.size > MAX_FILE) return send(404, 'Entry not found', { 'X-Error-Code': 'EntryNotFound' });
    if (!cdn && isLarge(rel)) {
      const to = `/cdn/${[owner, name, rev, ...fileParts].map(encodeURIComponent).join('/')}`;
      return send(302, `Found. Redirecting to ${to}`, { Location: to, 'X-Repo-Commit': '0123456789abcdef' });
    }
    const data = fs.readFileSync(file);
    res.writeHead(200, { ...cors, 'Content-Type': TYPES[path.extname(rel)] || 'application/octet-stream',
      'Content-Length': data.length, ETag: `"${data.length}-${Math.floor(st.mtimeMs)}"`, 'X-Repo-Commit': '0123456789abcdef' });
    log(200);
    if (req.method === 'HEAD') return res.end();
    const cut = truncated.has(repoName) && isLarge(rel) ? data.length >> 1 : data.length;
    for (let o = 0; o < cut && !res.destroyed; o += CHUNK) {
      await new Promise((resolve) => res.write(data.subarray(o, Math.min(cut, o + CHUNK)), resolve)); // flushed
      if (slow.has(repoName) && isLarge(rel)) await new Promise((r) => setTimeout(r, 10));
    }
    if (cut < data.length) res.destroy(); // closes early: the client sees fewer bytes than Content-Length
    else res.end();
  });
  server.maxConnections = 32;
  server.requestTimeout = 30000;
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    addRepo(name, dir) { all[name] = path.resolve(dir); },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => { fs.rmSync(tmp, { recursive: true, force: true }); resolve(); });
    }),
  };
}

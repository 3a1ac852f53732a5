// Shared by the package tests: the repository's paths, `npm pack` of this repository installed into a fresh temporary
// project, a static file server (a plain host: MIME types, no COOP/COEP), and the README's code blocks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MODEL = path.join(ROOT, 'models/fmnist-cond.i8.safetensors');
export const CLI = path.join(ROOT, 'build/ddpm');
export const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

export const run = (cmd, args, cwd, opts = {}) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });

/** `npm pack` of the repository into a new temporary folder, installed into a fresh project `app` there (a
 * package.json with "type": "module" and the tarball only). Returns { tmp, app, tgz, installed }. */
export function packAndInstall(prefix = 'ddpm-pkg-') {
  assert.ok(fs.existsSync(path.join(ROOT, 'web/dist/ddpm.wasm')), 'build web/dist/ddpm.wasm first (scripts/build-wasm.sh)');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], ROOT);
  const tgz = path.join(tmp, `ddpm-wasm-${PKG.version}.tgz`);
  assert.ok(fs.existsSync(tgz), `npm pack wrote ${tgz}`);
  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  run('npm', ['install', '--no-audit', '--no-fund', tgz], app);
  return { tmp, app, tgz, installed: path.join(app, 'node_modules/ddpm-wasm') };
}

/** A static server of `dir` on a free port, as a plain host serves files: a MIME type by extension, no COOP/COEP. */
export function serve(dir) {
  const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
    '.json': 'application/json' };
  const server = http.createServer((req, res) => {
    const p = path.join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (!p.startsWith(dir) || !fs.existsSync(p) || fs.statSync(p).isDirectory()) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': MIME[path.extname(p)] ?? 'application/octet-stream' });
    fs.createReadStream(p).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) })));
}

export const README = () => fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The README's section under the heading line `heading` (e.g. '#### A page'), up to the next heading. */
export function readmeSection(heading) {
  const text = README();
  const at = text.split('\n').findIndex((l) => l.trim() === heading);
  assert.ok(at >= 0, `README.md has no heading line '${heading}'`);
  const rest = text.split('\n').slice(at + 1);
  const end = rest.findIndex((l) => /^#{1,4} /.test(l));
  return rest.slice(0, end < 0 ? undefined : end).join('\n');
}

/** The first fenced block of language `lang` in the README section under `heading`, without its fences. */
export function readmeBlock(heading, lang) {
  const section = readmeSection(heading);
  const m = section.match(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'm'));
  assert.ok(m, `README.md: no \`\`\`${lang} block under '${heading}'`);
  return m[1];
}

/** The object literal that follows `marker` in `src` (balanced braces; the literals of the README's snippets hold
 * no braces in strings), evaluated with `scope`'s names bound: how a test reuses a snippet's own options. */
export function literalAfter(src, marker, scope = {}) {
  const at = src.indexOf(marker);
  assert.ok(at >= 0, `the snippet has no '${marker}'`);
  const open = src.indexOf('{', at + marker.length);
  let depth = 0, end = open;
  for (; end < src.length; end++) {
    if (src[end] === '{') depth++;
    else if (src[end] === '}' && --depth === 0) break;
  }
  const text = src.slice(open, end + 1);
  // eslint-disable-next-line no-new-func
  return new Function(...Object.keys(scope), `return (${text});`)(...Object.values(scope));
}

#!/usr/bin/env node
/**
 * serve.mjs — a zero-dependency static file server for the demo page.
 *
 *   node scripts/serve.mjs [--port 8000] [--host 127.0.0.1] [--root .] [--quiet] [--plain]
 *
 * Serves the repository's web/ and models/ folders (nothing else) and prints the page's URL
 * (http://HOST:PORT/web/). Every response carries the headers that make the page cross-origin isolated
 * (COOP same-origin + COEP require-corp, which SharedArrayBuffer and wasm threads need) and
 * Cross-Origin-Resource-Policy: same-origin, so the page's own files still load under COEP.
 *
 * --plain leaves those three headers out, as a plain static host would (the page must work there too: it needs no
 * SharedArrayBuffer). --port 0 picks a free port; the first line printed on stdout is then always exactly the URL, which is
 * how browser-tests/ find the server. ETag / If-None-Match and Range requests are honoured so that
 * the page's model cache can revalidate cheaply.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Folders under the root that may be served; everything else is 404.
const SERVED_DIRS = ['web', 'models'];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

function parseArgs(argv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const a = { port: 8000, host: '127.0.0.1', root: path.resolve(here, '..'), quiet: false, isolate: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--port' || k === '-p') a.port = Number(val());
    else if (k.startsWith('--port=')) a.port = Number(k.slice(7));
    else if (k === '--host') a.host = val();
    else if (k === '--root') a.root = path.resolve(val());
    else if (k === '--quiet' || k === '-q') a.quiet = true;
    else if (k === '--plain') a.isolate = false;
    else if (k === '--help' || k === '-h') {
      console.log('usage: node scripts/serve.mjs [--port 8000] [--host 127.0.0.1] [--root DIR] [--quiet] [--plain]');
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new Error('--port must be 0..65535');
  return a;
}

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** base: the headers every reply gets (isolation unless --plain, no sniffing). */
function sendText(res, base, status, text, extra = {}) {
  const body = Buffer.from(text + '\n');
  res.writeHead(status, { ...base, 'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length, 'Cache-Control': 'no-store', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Map a URL path onto a file under root, or null when it is outside the served folders. */
function resolvePath(root, urlPath) {
  let p;
  try { p = decodeURIComponent(urlPath); } catch { return null; }
  if (p.includes('\0')) return null;
  const rel = path.posix.normalize(p).replace(/^\/+/, '');
  if (rel.startsWith('..')) return null;
  const top = rel.split('/')[0];
  if (!SERVED_DIRS.includes(top)) return null;
  const abs = path.resolve(root, rel);
  if (!abs.startsWith(path.resolve(root, top))) return null;
  return abs;
}

/** root: the folder holding web/ and models/; isolate: false for --plain (no COOP/COEP/CORP). */
export function createServer(root, { log = () => {}, isolate = true } = {}) {
  const base = { ...(isolate ? ISOLATION_HEADERS : {}), 'X-Content-Type-Options': 'nosniff' };
  return http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const done = (status) => log(`${status} ${req.method} ${url.pathname}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      done(405);
      return sendText(res, base, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    }
    if (url.pathname === '/' || url.pathname === '/web') {
      res.writeHead(302, { ...base, Location: '/web/' + url.search, 'Content-Length': 0 });
      done(302);
      return res.end();
    }
    let file = resolvePath(root, url.pathname);
    if (!file) { done(404); return sendText(res, base, 404, 'not found'); }
    let st;
    try {
      st = fs.statSync(file);
      if (st.isDirectory()) {
        if (!url.pathname.endsWith('/')) {
          res.writeHead(301, { ...base, Location: url.pathname + '/' + url.search, 'Content-Length': 0 });
          done(301);
          return res.end();
        }
        file = path.join(file, 'index.html');
        st = fs.statSync(file);
      }
    } catch {
      done(404);
      return sendText(res, base, 404, 'not found');
    }
    if (!st.isFile()) { done(404); return sendText(res, base, 404, 'not found'); }

    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const headers = {
      ...base,
      'Content-Type': MIME[path.extname(file).toLowerCase()] || 'application/octet-stream',
      'Cache-Control': 'no-cache', // always revalidate: files change while developing
      'ETag': etag,
      'Last-Modified': new Date(st.mtimeMs).toUTCString(),
      'Accept-Ranges': 'bytes',
    };
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').map((s) => s.trim()).includes(etag)) {
      res.writeHead(304, headers);
      done(304);
      return res.end();
    }
    let start = 0, end = st.size - 1, status = 200;
    const range = req.headers.range && /^bytes=(\d*)-(\d*)$/.exec(req.headers.range);
    if (range && st.size > 0) {
      if (range[1] === '') { start = Math.max(0, st.size - Number(range[2])); }
      else { start = Number(range[1]); if (range[2] !== '') end = Math.min(end, Number(range[2])); }
      if (start > end || start >= st.size) {
        done(416);
        return sendText(res, base, 416, 'range not satisfiable', { 'Content-Range': `bytes */${st.size}` });
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
    }
    headers['Content-Length'] = st.size === 0 ? 0 : end - start + 1;
    res.writeHead(status, headers);
    done(status);
    if (req.method === 'HEAD' || st.size === 0) return res.end();
    fs.createReadStream(file, { start, end }).on('error', () => res.destroy()).pipe(res);
  });
}

// Run as a script (not when imported).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let args;
  try { args = parseArgs(process.argv.slice(2)); } catch (e) {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(2);
  }
  const server = createServer(args.root, { log: args.quiet ? () => {} : (l) => console.error(l), isolate: args.isolate });
  server.on('error', (e) => {
    console.error(`serve.mjs: ${e.code === 'EADDRINUSE' ? `port ${args.port} is in use (try --port 0)` : e.message}`);
    process.exit(1);
  });
  server.listen(args.port, args.host, () => {
    const { port } = server.address();
    const host = args.host.includes(':') ? `[${args.host}]` : args.host;
    console.log(`http://${host}:${port}/web/`);
    if (!fs.existsSync(path.join(args.root, 'web', 'dist', 'ddpm.wasm')))
      console.error('serve.mjs: web/dist/ddpm.wasm is missing; build it with: bash scripts/build-wasm.sh');
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

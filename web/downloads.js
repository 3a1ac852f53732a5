/**
 * downloads.js — what the demo page (app.js) downloads itself: the engine's wasm (compiled once, handed to every
 * worker) and the shipped model files, kept in the Cache API and revalidated with their ETag / Last-Modified. Errors
 * are UserErrors: a title and a detail in plain words. ("Your model" downloads go through hub.js, your-model.js.)
 */
import { readResponse, CACHE_NAME } from './hub.js';

/** An error shown in the page: a title and a detail in plain words. */
export class UserError extends Error {
  /** field: the control whose value is wrong (its message is also shown beside it), if any. */
  constructor(title, detail = '', field = null) { super(title); this.title = title; this.detail = detail; this.field = field; }
}

export function fileName(url) { return decodeURIComponent(String(url).split('/').pop()); }

/** The engine's wasm, compiled here once (and handed to every worker). */
export async function compileEngine(wasmUrl) {
  let res;
  try {
    res = await fetch(wasmUrl);
  } catch (e) {
    throw new UserError('The engine could not be downloaded.', `Fetching ${wasmUrl.pathname} failed (${e.message}).`);
  }
  if (!res.ok) {
    throw new UserError('The engine file is missing.',
      `The server answered HTTP ${res.status} for dist/ddpm.wasm` +
      (res.status === 404 ? ' — it has probably not been built (bash scripts/build-wasm.sh).' : '.'));
  }
  try {
    const type = res.headers.get('Content-Type') || '';
    if (WebAssembly.compileStreaming && type.startsWith('application/wasm')) return await WebAssembly.compileStreaming(res);
    return await WebAssembly.compile(await res.arrayBuffer());
  } catch (e) {
    throw new UserError('Your browser could not compile the engine.',
      `dist/ddpm.wasm is not a WebAssembly module this browser accepts (${e.message}). ` +
      'Try a current Chrome, Edge, Firefox or Safari, or rebuild the file.');
  }
}

export function modelHttpError(url, status) {
  const name = fileName(url);
  const e = status === 404
    ? new UserError('The model file was not found.',
      `The server has no ${name} (HTTP 404). Check that the models/ folder was copied next to web/.`)
    : new UserError('The model file could not be downloaded.', `The server answered HTTP ${status} for ${name}.`);
  e.httpStatus = status;
  return e;
}

// Opened once, from start-up on (opening it takes a while in a fresh profile), in parallel with the engine download.
let cachePromise = null;
export function openCache() {
  if (!cachePromise) {
    cachePromise = (async () => {
      try { return self.caches ? await caches.open(CACHE_NAME) : null; } catch { return null; }
    })();
  }
  return cachePromise;
}

/**
 * The model's bytes: from the Cache API when present (revalidated with its ETag / Last-Modified, so a model
 * replaced on the server under the same name is picked up), else from the network, then stored.
 * @returns {Promise<{bytes: ArrayBuffer, from: 'cache'|'network'}>}
 */
export async function fetchModel(url, onProgress) {
  const abs = new URL(url, location.href).href;
  const cache = await openCache();
  const cached = cache ? await cache.match(abs) : null;
  let res = null;
  if (cached) {
    const etag = cached.headers.get('ETag');
    const lm = cached.headers.get('Last-Modified');
    const headers = etag ? { 'If-None-Match': etag } : lm ? { 'If-Modified-Since': lm } : null;
    if (!headers) return { bytes: await cached.arrayBuffer(), from: 'cache' };
    try {
      res = await fetch(abs, { headers, cache: 'no-store' });
    } catch {
      return { bytes: await cached.arrayBuffer(), from: 'cache' }; // offline: the cached copy is all there is
    }
    if (!res.ok) {
      await res.arrayBuffer().catch(() => {}); // read the (empty) body so the request ends cleanly
      if (res.status === 404) { await cache.delete(abs); throw modelHttpError(url, 404); }
      return { bytes: await cached.arrayBuffer(), from: 'cache' }; // 304 Not Modified (or a server hiccup)
    }
  } else {
    try {
      res = await fetch(abs);
    } catch (e) {
      // fetch() says only "Failed to fetch" both for a host that is down and for a CORS refusal
      const cross = new URL(abs).origin !== location.origin;
      throw new UserError('The model file could not be downloaded.', `${fileName(url)}: ${e.message}` +
        (cross ? `. ${new URL(abs).host} is another site: it must allow this page to read it (CORS: the ` +
          'Access-Control-Allow-Origin header), or it may be unreachable.' : '.'));
    }
    if (!res.ok) throw modelHttpError(url, res.status);
  }
  let bytes;
  try {
    bytes = await readResponse(res, { url: abs, onProgress: (p) => p.total && onProgress(p.loaded / p.total) });
  } catch (e) {
    throw new UserError('The model file could not be downloaded.', e.message);
  }
  if (cache) {
    const keep = new Headers({ 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
    for (const h of ['ETag', 'Last-Modified']) if (res.headers.get(h)) keep.set(h, res.headers.get(h));
    // Not awaited: storing takes a few hundred ms and the bytes are already here. A failure (quota) only means
    // the next visit downloads the file again.
    cache.put(abs, new Response(bytes.slice(), { headers: keep })).catch(() => {});
  }
  return { bytes: bytes.buffer.byteLength === bytes.length ? bytes.buffer : bytes.slice().buffer, from: 'network' };
}

/** True when the server definitely does not have `url` (HEAD answers 404 / 410). A network failure or a host that
 *  refuses HEAD counts as "maybe there": an offline visit may still find the file in the cache. */
export async function isMissing(url) {
  try {
    const r = await fetch(url, { method: 'HEAD', cache: 'no-store' });
    await r.arrayBuffer(); // (empty) reading it ends the request cleanly
    return r.status === 404 || r.status === 410;
  } catch { return false; }
}

/** Saves a canvas as a PNG file named `name`, scaled `scale` times (nearest neighbour); onFail() if the browser
 * cannot encode it. */
export function saveCanvasPng(src, scale, name, onFail = () => {}) {
  const c = document.createElement('canvas');
  c.width = src.width * scale;
  c.height = src.height * scale;
  const g = c.getContext('2d');
  g.imageSmoothingEnabled = false;
  g.drawImage(src, 0, 0, c.width, c.height);
  c.toBlob((blob) => {
    if (!blob) { onFail(); return; }
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }, 'image/png');
}

// The same API in Chromium (page and module Worker): the same seed gives the same bytes as in Node, and the
// macrotask yield (MessageChannel there) lets an AbortSignal stop a run. Needs /usr/bin/chromium (Debian) and
// playwright-core (npm install --prefix wasm-tests); skipped with a message otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, normalize, join } from 'node:path';
import { Engine } from '../web/ddpm.js';
import { ROOT, path, sha256 } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
let chromium = null;
try {
  ({ chromium } = await import('playwright-core'));
} catch { /* optional */ }
const skip = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`
  : !chromium ? 'playwright-core is not installed (npm install --prefix wasm-tests)' : false;

const OPTS = { seed: 4242, batch: 3, steps: 20, sampler: 'euler_a', classLabel: 2, guidance: 2.5 };
const MODEL = '/tests/data/tiny-cond.i8.safetensors';

// what the page and the worker run: sample, hash the float32 bytes, and abort a long run from a timer
const PROBE = `
import { Engine } from '/web/ddpm.js';
export async function probe(opts, model) {
  const engine = await Engine.load();
  const m = await engine.loadModel(model);
  const r = await m.sample(opts);
  const digest = await crypto.subtle.digest('SHA-256', r.images);
  const hash = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  const ac = new AbortController();
  let steps = 0, atAbort = -1, code = null;
  setTimeout(() => { atAbort = steps; ac.abort(); }, 40);
  try { await m.sample({ seed: 1, steps: 1000, signal: ac.signal, onStep: (s) => { steps = s.step; } }); }
  catch (e) { code = e.code; }
  return { hash, simd: Engine.simdSupported(), abortCode: code, stepsAfterAbort: steps - atAbort, atAbort };
}`;
const PAGES = {
  '/__probe.js': PROBE,
  '/__worker.js': `import { probe } from '/__probe.js';
self.onmessage = async (e) => { try { self.postMessage(await probe(...e.data)); } catch (err) { self.postMessage({ error: String(err) }); } };`,
  '/__test.html': '<!doctype html><meta charset="utf-8"><title>ddpm test</title>',
};
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

function serve() {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      'Content-Type': TYPES[extname(url.pathname)] ?? 'application/octet-stream' };
    if (PAGES[url.pathname]) { res.writeHead(200, headers); res.end(PAGES[url.pathname]); return; }
    const file = normalize(join(ROOT, url.pathname));
    const allowed = ['web', 'tests/data', 'models'].some((d) => file.startsWith(join(ROOT, d) + '/'));
    try {
      if (!allowed) throw new Error('forbidden');
      const body = await readFile(file);
      res.writeHead(200, headers);
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('Chromium page and Worker: same bytes as Node for the same seed; abort within one step', { skip, timeout: 120000 }, async (t) => {
  const engine = await Engine.load();
  const m = await engine.loadModel(path(MODEL.slice(1)));
  const nodeHash = sha256((await m.sample(OPTS)).images);
  engine.dispose();

  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu',
    '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${base}/__test.html`);
    const inPage = await page.evaluate(async ([o, mp]) => (await import('/__probe.js')).probe(o, mp), [OPTS, MODEL]);
    const inWorker = await page.evaluate(([o, mp]) => new Promise((resolve) => {
      const w = new Worker('/__worker.js', { type: 'module' });
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => resolve({ error: e.message });
      w.postMessage([o, mp]);
    }), [OPTS, MODEL]);
    t.diagnostic(`node ${nodeHash.slice(0, 16)}, page ${inPage.hash?.slice(0, 16)}, worker ${inWorker.hash?.slice(0, 16)}`);
    for (const [where, r] of [['page', inPage], ['worker', inWorker]]) {
      assert.equal(r.error, undefined, `${where}: ${r.error}`);
      assert.equal(r.simd, true);
      assert.equal(r.hash, nodeHash, `${where} bytes differ from Node's`);
      assert.equal(r.abortCode, 'ABORTED', where);
      assert.ok(r.atAbort > 0 && r.stepsAfterAbort <= 1, `${where}: ${r.stepsAfterAbort} steps after the abort`);
    }
  } finally {
    await browser.close();
    server.close();
  }
});

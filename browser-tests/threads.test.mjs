// Threads for one image in Chromium (web/lib/threads.js): on a cross-origin isolated page (scripts/serve.mjs sends
// COOP/COEP) the threaded module runs a forward pass and a run on 1, 2, 3 and 4 Web Workers with the plain module's
// bits, and abort stops a threaded run within one step; on a plain static host (no isolation headers) the engine
// falls back to one thread and says why, and still samples.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './helpers.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { if (browser) await browser.close(); if (server) await server.close(); });

async function inPage(base, fn) {
  const { context, page, problems } = await openPage(browser);
  try {
    await page.goto(new URL('/web/errors.js', base).href); // any same-origin document: its headers are what matter
    const r = await page.evaluate(fn);
    // the document is a .js file: Chromium's favicon request 404s; anything else counts
    return { r, problems: problems.filter((p) => !/status of 404|favicon/.test(p)) };
  } finally {
    await context.close();
  }
}

test('isolated page: 1 .. 4 worker threads give the plain module\'s bits; abort within one step', async () => {
  const { r, problems } = await inPage(server.url, async () => {
    const { Engine } = await import('/web/ddpm.js');
    const plain = await Engine.load();
    const th = await Engine.load(undefined, { threads: true });
    const bytes = new Uint8Array(await (await fetch('/models/fmnist-cond.i8.safetensors')).arrayBuffer());
    const ref = await plain.loadModel(bytes), m = await th.loadModel(bytes);
    const x = Float32Array.from({ length: 2 * 784 }, (_, i) => Math.sin(0.37 * i));
    const want = ref.forward(x, [40, 800], [3, 7]);
    const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    const out = { isolated: self.crossOriginIsolated, supported: th.threadsSupported, forward: [], run: [] };
    const opts = { sampler: 'ddim', steps: 8, batch: 2, seed: 5, classLabel: [1, 8] };
    const wantRun = await ref.sample(opts);
    for (const n of [1, 2, 3, 4]) {
      await m.setThreads(n);
      m._setThreadMinWork(0);
      out.forward.push([n, m.threads, same(m.forward(x, [40, 800], [3, 7]), want)]);
      if (n % 2 === 0) out.run.push([n, same((await m.sample(opts)).images, wantRun.images)]);
    }
    const ac = new AbortController();
    let steps = 0, atAbort = -1;
    setTimeout(() => { atAbort = steps; ac.abort(); }, 60);
    try {
      await m.sample({ seed: 1, steps: 1000, batch: 2, signal: ac.signal, onStep: (s) => { steps = s.step; } });
    } catch (e) {
      out.abort = { code: e.code, atAbort, steps };
    }
    m.dispose();
    await m.closed;
    return out;
  });
  assert.deepEqual(problems, []);
  assert.equal(r.isolated, true);
  assert.equal(r.supported, true);
  for (const [n, got, same] of r.forward) assert.ok(got === n && same, `forward on ${n} threads (${got})`);
  for (const [n, same] of r.run) assert.ok(same, `a DDIM run on ${n} threads`);
  assert.equal(r.abort.code, 'ABORTED');
  assert.ok(r.abort.atAbort > 0 && r.abort.steps <= r.abort.atAbort + 1, JSON.stringify(r.abort));
});

test('a page that is not cross-origin isolated runs on one thread and says why', async () => {
  const plainHost = await startServer(['--plain']);
  try {
    const { r, problems } = await inPage(plainHost.url, async () => {
      const { Engine } = await import('/web/ddpm.js');
      const e = await Engine.load(undefined, { threads: true });
      const m = await e.loadModel('/models/fmnist-cond.i8.safetensors');
      let refused = null;
      try { await m.setThreads(2); } catch (err) { refused = `${err.code}: ${err.message}`; }
      const res = await m.sample({ steps: 4, batch: 1, seed: 1 });
      return { isolated: self.crossOriginIsolated, supported: e.threadsSupported, why: e.threadsUnavailable, refused,
        threads: m.threads, n: res.images.length };
    });
    assert.deepEqual(problems, []);
    assert.equal(r.isolated, false);
    assert.equal(r.supported, false);
    assert.match(r.why, /not cross-origin isolated.*Cross-Origin-Opener-Policy/);
    assert.match(r.refused, /^UNSUPPORTED: setThreads\(2\): the page is not cross-origin isolated/);
    assert.equal(r.threads, 1);
    assert.equal(r.n, 784);
  } finally {
    await plainHost.close();
  }
});

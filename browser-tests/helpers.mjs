/**
 * helpers.mjs — shared by the browser tests: the static server, headless Chromium (Debian's, driven by
 * playwright-core), page state through the page's test hook (window.__ddpmDemo), and image statistics.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = path.join(ROOT, 'browser-tests', 'artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps trying to reach the (closed) network.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-renderer-backgrounding', '--disable-background-timer-throttling'];

/** Starts scripts/serve.mjs on a free port (extra arguments, e.g. ['--plain']); resolves {url, close()}. */
export async function startServer(extraArgs = []) {
  const proc = spawn(process.execPath, [path.join(ROOT, 'scripts', 'serve.mjs'), '--port', '0', '--quiet', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve(line.trim());
    });
    proc.on('exit', (code) => reject(new Error(`serve.mjs exited (${code}): ${err}`)));
  });
  return {
    url,
    close: () => new Promise((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}

export async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM=/path/to/chrome)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * A fresh context + page that records console errors, page errors, failed requests and HTTP errors.
 * @returns {Promise<{context, page, problems: string[]}>}
 */
export async function openPage(browser, { viewport = { width: 1280, height: 900 }, init, hasTouch = false } = {}) {
  const context = await browser.newContext({ viewport, hasTouch });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`); });
  page.on('worker', (w) => {
    w.on('console', (m) => { if (m.type() === 'error') problems.push(`worker console error: ${m.text()}`); });
  });
  return { context, page, problems };
}

/** Waits until window.__ddpmDemo.state is one of `states`; returns the state. */
export async function waitState(page, states, timeout = 120000) {
  const h = await page.waitForFunction((s) => {
    const d = window.__ddpmDemo;
    return d && s.includes(d.state) ? d.state : null;
  }, states, { timeout, polling: 50 });
  return h.jsonValue();
}

export async function gotoReady(page, url) {
  await page.goto(url);
  const s = await waitState(page, ['ready', 'error'], 90000);
  if (s !== 'ready') {
    const err = await page.evaluate(() => window.__ddpmDemo.error);
    throw new Error(`the page did not get ready: ${JSON.stringify(err)}`);
  }
}

/** Sets the form through the real controls (so their event handlers run). */
export async function setControls(page, o) {
  if (o.sampler) await page.selectOption('#sampler', o.sampler);
  if (o.steps != null) await page.fill('#steps', String(o.steps));
  if (o.seed != null) await page.fill('#seed', String(o.seed));
  if (o.batch != null) await page.fill('#batch', String(o.batch));
  if (o.classLabel !== undefined) await page.selectOption('#class', String(o.classLabel ?? -1));
  if (o.guidance != null) await page.fill('#guidance', String(o.guidance));
  if (o.workers != null) {
    await page.fill('#workers', String(o.workers));
    await page.dispatchEvent('#workers', 'change');
  }
  if (o.view) await page.check(`input[name="view"][value="${o.view}"]`);
}

/** Clicks Generate and waits for the end of the run; returns a snapshot of the test hook. */
export async function generate(page, timeout = 150000) {
  await page.click('#generate');
  await waitState(page, ['done', 'stopped', 'error', 'ready'], timeout);
  return snapshot(page);
}

export function snapshot(page) {
  return page.evaluate(() => {
    const d = window.__ddpmDemo;
    return { ...d, finalBytes: d.finalBytes && Array.from(d.finalBytes),
      initPixels: d.initPixels && Array.from(d.initPixels), samplers: undefined, config: undefined };
  });
}

export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
}

/**
 * Statistics of one S x S grey image (bytes): mean and sd in [0, 1], the fraction of near-black pixels (< 26),
 * and the lag-1 autocorrelation over horizontal and vertical neighbours (smoothness).
 */
export function imageStats(px, S) {
  const n = S * S;
  let m = 0;
  for (let i = 0; i < n; i++) m += px[i] / 255;
  m /= n;
  let v = 0, dark = 0;
  for (let i = 0; i < n; i++) { v += (px[i] / 255 - m) ** 2; if (px[i] < 26) dark++; }
  const sd = Math.sqrt(v / n);
  let c = 0, cn = 0;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const a = px[y * S + x] / 255 - m;
      if (x + 1 < S) { c += a * (px[y * S + x + 1] / 255 - m); cn++; }
      if (y + 1 < S) { c += a * (px[(y + 1) * S + x] / 255 - m); cn++; }
    }
  }
  return { mean: m, sd, dark: dark / n, corr: sd > 0 ? c / cn / (sd * sd) : 0 };
}

/** Mean absolute difference (in [0, 1]) and Pearson correlation of two equal-length byte arrays. */
export function compare(a, b) {
  const n = a.length;
  let ma = 0, mb = 0, mad = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; mad += Math.abs(a[i] - b[i]); }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] - ma, y = b[i] - mb;
    sab += x * y; saa += x * x; sbb += y * y;
  }
  return { mad: mad / n / 255, corr: saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0 };
}

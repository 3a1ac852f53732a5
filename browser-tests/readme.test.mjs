// The README's JavaScript example (section "JavaScript") runs as written in a page: its code is cut out of
// README.md, its import pointed at the served web/ddpm.js, and it must draw the batch on the canvas and sample.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startServer, launch } from './helpers.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { if (browser) await browser.close(); if (server) await server.close(); });

function readmeBlock(title) {
  const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
  const at = lines.indexOf(`### ${title}`);
  assert.ok(at >= 0, `README.md has a section ${title}`);
  const open = lines.findIndex((l, i) => i > at && l.startsWith('```'));
  const close = lines.findIndex((l, i) => i > open && l.startsWith('```'));
  return lines.slice(open + 1, close).join('\n');
}

test('the README\'s JavaScript example runs in a page: draws the steps on a canvas and samples', async () => {
  const code = readmeBlock('JavaScript (browser, Web Worker, Node)');
  assert.match(code, /import \{ Engine \} from '\.\/web\/ddpm\.js';/);
  const body = code.replace("import { Engine } from './web/ddpm.js';", "const { Engine } = await import('/web/ddpm.js');")
    + '\nreturn { n: images.length, drawn: ctx.getImageData(0, 0, 8, 8).data.some((v) => v !== 0) };';
  const page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(new URL('/readme.html', server.url).href); // a 404 at the root: 'models/...' -> /models/
  const r = await page.evaluate(async (src) => {
    document.body.append(document.createElement('canvas'));
    const AsyncFunction = (async () => {}).constructor;
    return new AsyncFunction(src)();
  }, body);
  assert.deepEqual(errors, []);
  assert.equal(r.n, 10 * 28 * 28, 'the example sampled 10 images');
  assert.ok(r.drawn, 'the example drew on the canvas');
});

/*
 * pad.js — the demo page's "Start from my drawing": a pad drawn with pointer events (mouse, touch, pen) or the
 * keyboard, or a dropped / chosen image. The pad is larger than the model's input; the preview shows the S x S image
 * the model gets, and pixels() is that image as the engine's init (S*S grey bytes, or S*S*4 RGBA for RGB models).
 *
 *   const pad = createPad(el, { config, showError, clearError, status, pointerType });
 *   pad.clear(); pad.refresh() (after a model change: the preview's size); opts.init = pad.pixels();
 *
 * el: the page's elements (pad, padPreview, padFile, padClear, padInvert, brush, strength, strengthOut, useDrawing);
 * config() the current model's config (imageSize, inChannels) or null; the rest report to the page.
 */

export function createPad(el, page) {
  const padCtx = el.pad.getContext('2d', { willReadFrequently: true });
  const prevCtx = el.padPreview.getContext('2d', { willReadFrequently: true });
  const pen = { down: false, x: 0, y: 0, kbd: false };

  function padClear() {
    padCtx.fillStyle = '#000';
    padCtx.fillRect(0, 0, el.pad.width, el.pad.height);
    updatePreview();
  }

  function padPoint(ev) {
    const r = el.pad.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * el.pad.width / r.width, y: (ev.clientY - r.top) * el.pad.height / r.height };
  }

  function stroke(from, to, width) {
    padCtx.strokeStyle = '#fff';
    padCtx.fillStyle = '#fff';
    padCtx.lineCap = 'round';
    padCtx.lineJoin = 'round';
    padCtx.lineWidth = width;
    padCtx.beginPath();
    padCtx.moveTo(from.x, from.y);
    padCtx.lineTo(to.x, to.y);
    padCtx.stroke();
    if (from.x === to.x && from.y === to.y) {
      padCtx.beginPath();
      padCtx.arc(to.x, to.y, width / 2, 0, 2 * Math.PI);
      padCtx.fill();
    }
  }

  function brushWidth(ev) {
    const w = Number(el.brush.value);
    return ev && ev.pointerType === 'pen' && ev.pressure > 0 ? w * (0.4 + ev.pressure) : w;
  }

  let previewQueued = false;
  function updatePreview() {
    if (previewQueued) return;
    previewQueued = true;
    requestAnimationFrame(() => { previewQueued = false; renderPreview(); });
  }

  function renderPreview() {
    const S = page.config() ? page.config().imageSize : 28;
    if (el.padPreview.width !== S) { el.padPreview.width = S; el.padPreview.height = S; }
    prevCtx.imageSmoothingEnabled = true;
    prevCtx.imageSmoothingQuality = 'high';
    prevCtx.drawImage(el.pad, 0, 0, S, S);
  }

  function markDrawn() {
    if (!el.useDrawing.checked) el.useDrawing.checked = true;
    updatePreview();
  }

  el.pad.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0 && ev.pointerType === 'mouse') return;
    ev.preventDefault();
    el.pad.setPointerCapture(ev.pointerId);
    el.pad.focus({ preventScroll: true });
    pen.down = true;
    page.pointerType(ev.pointerType);
    const p = padPoint(ev);
    stroke(p, p, brushWidth(ev));
    pen.x = p.x; pen.y = p.y;
    markDrawn();
  });
  el.pad.addEventListener('pointermove', (ev) => {
    if (!pen.down || pen.kbd) return;
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
    for (const e of events.length ? events : [ev]) {
      const p = padPoint(e);
      stroke({ x: pen.x, y: pen.y }, p, brushWidth(e));
      pen.x = p.x; pen.y = p.y;
    }
    updatePreview();
  });
  for (const type of ['pointerup', 'pointercancel']) {
    el.pad.addEventListener(type, () => { if (!pen.kbd) pen.down = false; });
  }

  // Keyboard drawing: arrows move the brush (Shift: finer), Space toggles the pen, Delete/Backspace clears.
  const cursor = document.createElement('div');
  cursor.className = 'pad-cursor';
  cursor.hidden = true;
  el.pad.parentElement.append(cursor);
  function placeCursor() {
    const r = el.pad.getBoundingClientRect();
    const pr = el.pad.parentElement.getBoundingClientRect();
    const k = r.width / el.pad.width;
    const d = Number(el.brush.value) * k;
    cursor.style.width = cursor.style.height = `${d}px`;
    cursor.style.left = `${r.left - pr.left + pen.x * k - d / 2}px`;
    cursor.style.top = `${r.top - pr.top + pen.y * k - d / 2}px`;
    cursor.classList.toggle('down', pen.down);
  }
  el.pad.addEventListener('focus', () => {
    if (!pen.kbd) { pen.x = el.pad.width / 2; pen.y = el.pad.height / 2; }
    cursor.hidden = false;
    placeCursor();
  });
  el.pad.addEventListener('blur', () => { cursor.hidden = true; if (pen.kbd) { pen.kbd = false; pen.down = false; } });
  el.pad.addEventListener('keydown', (ev) => {
    const stepPx = ev.shiftKey ? 2 : 8;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[ev.key]) {
      ev.preventDefault();
      const from = { x: pen.x, y: pen.y };
      pen.x = Math.min(el.pad.width, Math.max(0, pen.x + moves[ev.key][0] * stepPx));
      pen.y = Math.min(el.pad.height, Math.max(0, pen.y + moves[ev.key][1] * stepPx));
      if (pen.down && pen.kbd) { stroke(from, pen, brushWidth()); markDrawn(); }
    } else if (ev.key === ' ' || ev.key === 'Enter') {
      ev.preventDefault();
      pen.kbd = true;
      pen.down = !pen.down;
      if (pen.down) { stroke(pen, pen, brushWidth()); markDrawn(); }
      page.status(pen.down ? 'Pen down: arrow keys draw.' : 'Pen up: arrow keys move.');
    } else if (ev.key === 'Delete' || ev.key === 'Backspace') {
      ev.preventDefault();
      padClear();
    } else return;
    placeCursor();
  });

  function padInvert() {
    const img = padCtx.getImageData(0, 0, el.pad.width, el.pad.height);
    const d = img.data;
    for (let i = 0; i < d.length; i += 4) { d[i] = 255 - d[i]; d[i + 1] = 255 - d[i + 1]; d[i + 2] = 255 - d[i + 2]; }
    padCtx.putImageData(img, 0, 0);
    markDrawn();
  }

  /** Draws an image file into the pad (fitted, centred, in grey), inverted when its border is light. */
  async function loadImageFile(file) {
    if (!file || !/^image\//.test(file.type)) {
      page.showError('That file is not an image.', 'Drop or choose a PNG, JPEG, GIF or WebP picture.');
      return;
    }
    let bmp;
    try {
      bmp = await createImageBitmap(file);
    } catch {
      page.showError('The image could not be read.', `${file.name} is damaged or in a format this browser cannot open.`);
      return;
    }
    page.clearError();
    const W = el.pad.width, H = el.pad.height;
    const k = Math.min(W / bmp.width, H / bmp.height);
    const w = Math.max(1, Math.round(bmp.width * k)), h = Math.max(1, Math.round(bmp.height * k));
    const x0 = Math.floor((W - w) / 2), y0 = Math.floor((H - h) / 2);
    padCtx.fillStyle = '#000';
    padCtx.fillRect(0, 0, W, H);
    padCtx.imageSmoothingEnabled = true;
    padCtx.drawImage(bmp, x0, y0, w, h);
    bmp.close();
    // Grey, then inverted when the picture's own border is light: the training images are light objects on black,
    // a photo of an object usually has a light background. The letterbox bars stay black.
    const img = padCtx.getImageData(x0, y0, w, h);
    const d = img.data;
    let border = 0, n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const g = Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
      d[i] = d[i + 1] = d[i + 2] = g;
      d[i + 3] = 255;
      const p = i >> 2, x = p % w, y = (p / w) | 0;
      if (x < 3 || y < 3 || x >= w - 3 || y >= h - 3) { border += g; n++; }
    }
    if (n && border / n > 127) for (let i = 0; i < d.length; i += 4) d[i] = d[i + 1] = d[i + 2] = 255 - d[i];
    padCtx.putImageData(img, x0, y0);
    markDrawn();
  }

  /** The drawing as the engine's init: S*S grey bytes (1 channel) or S*S*4 RGBA. */
  function drawingPixels() {
    renderPreview();
    const S = el.padPreview.width;
    const rgba = prevCtx.getImageData(0, 0, S, S).data;
    if (page.config().inChannels >= 3) return new Uint8Array(rgba);
    const grey = new Uint8Array(S * S);
    for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
    return grey;
  }

  el.pad.addEventListener('dragover', (ev) => { ev.preventDefault(); el.pad.classList.add('drop'); });
  el.pad.addEventListener('dragleave', () => el.pad.classList.remove('drop'));
  el.pad.addEventListener('drop', (ev) => {
    ev.preventDefault();
    el.pad.classList.remove('drop');
    loadImageFile(ev.dataTransfer.files[0]);
  });
  el.padFile.addEventListener('change', () => { loadImageFile(el.padFile.files[0]); el.padFile.value = ''; });
  el.padClear.addEventListener('click', padClear);
  el.padInvert.addEventListener('click', padInvert);
  el.strength.addEventListener('input', () => { el.strengthOut.value = Number(el.strength.value).toFixed(2); });
  el.brush.addEventListener('input', () => { if (!cursor.hidden) placeCursor(); });

  return { clear: padClear, pixels: drawingPixels, refresh: renderPreview };
}

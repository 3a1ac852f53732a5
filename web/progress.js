/**
 * progress.js — how far a run is: the step counter, t, steps/s and ETA, and a small live chart of the time each
 * step took (ms per step against the step number).
 */

function fmtDuration(s) {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

/** el: { stStep, stT, stRate, stEta, chart (canvas), chartNote }; demo: the page's state (step, numSteps, t,
 * stepsPerSec, stepMs: the ms of every step so far). status(text): the status line. */
export function createProgress(el, demo, status) {
  let window3s = [];   // [{time, step}] of the last few seconds
  let last = 0;        // time of the previous step event
  let drawn = 0;       // chart redraw throttle

  function reset() {
    window3s = [{ time: performance.now(), step: 0 }];
    last = performance.now();
    demo.step = 0; demo.numSteps = 0; demo.t = null; demo.stepsPerSec = null; demo.stepMs = [];
    for (const k of ['stStep', 'stT', 'stRate', 'stEta']) el[k].textContent = '–';
    drawChart(true);
  }

  function update(step, numSteps, t) {
    const now = performance.now();
    // steps that arrive together (a worker ahead of the others) share the time since the last event
    const n = Math.max(1, step - demo.step);
    for (let k = 0; k < n; k++) demo.stepMs.push((now - last) / n);
    last = now;
    window3s.push({ time: now, step });
    while (window3s.length > 2 && now - window3s[0].time > 3000) window3s.shift();
    const a = window3s[0], b = window3s[window3s.length - 1];
    const rate = b.time > a.time && b.step > a.step ? (b.step - a.step) * 1000 / (b.time - a.time) : null;
    demo.step = step; demo.numSteps = numSteps; demo.t = t; demo.stepsPerSec = rate;
    el.stStep.textContent = `${step} / ${numSteps}`;
    const r = demo.run;
    if (r && r.init && numSteps < r.steps) { // image-to-image starts part-way down the grid: say so once
      const why = `From the drawing at strength ${r.strength.toFixed(2)}: the run starts part-way, ${numSteps} of ` +
        `the ${r.steps} steps.`;
      el.stStep.title = why;
      if (step === 1) status(why);
    } else {
      el.stStep.title = '';
    }
    el.stT.textContent = t == null ? '–' : String(t);
    el.stRate.textContent = rate ? rate.toFixed(rate < 10 ? 1 : 0) : '–';
    el.stEta.textContent = rate ? fmtDuration((numSteps - step) / rate) : '–';
    drawChart(step === numSteps);
  }

  function finish(ms) {
    const secs = ms / 1000;
    el.stRate.textContent = demo.numSteps ? (demo.numSteps / secs).toFixed(1) : '–';
    el.stEta.textContent = 'done';
    drawChart(true);
  }

  /* ms per step over the run; the first step (the workers warming up) is drawn but not used for the scale. */
  function drawChart(force) {
    const c = el.chart, now = performance.now();
    if (!c || (!force && now - drawn < 100)) return;
    drawn = now;
    const ctx = c.getContext('2d'), W = c.width, H = c.height, ms = demo.stepMs || [];
    ctx.clearRect(0, 0, W, H);
    const css = getComputedStyle(c);
    ctx.strokeStyle = css.getPropertyValue('--line') || '#888';
    ctx.beginPath(); ctx.moveTo(0, H - 0.5); ctx.lineTo(W, H - 0.5); ctx.stroke();
    if (ms.length < 1) { el.chartNote.textContent = 'Time per step: –'; return; }
    const body = ms.length > 2 ? ms.slice(1) : ms;
    const sorted = [...body].sort((a, b) => a - b);
    const top = Math.max(1, sorted[Math.min(sorted.length - 1, Math.floor(0.98 * sorted.length))] * 1.15);
    const total = Math.max(demo.numSteps || ms.length, ms.length);
    ctx.strokeStyle = css.getPropertyValue('--accent') || '#36c';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ms.forEach((v, i) => {
      const x = total > 1 ? (i / (total - 1)) * (W - 2) + 1 : W / 2, y = H - 2 - Math.min(1, v / top) * (H - 6);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    const median = sorted[Math.floor(sorted.length / 2)];
    el.chartNote.textContent = `Time per step: median ${median.toFixed(median < 10 ? 1 : 0)} ms, ` +
      `scale 0–${Math.round(top)} ms, ${ms.length} step${ms.length === 1 ? '' : 's'}`;
  }

  return { reset, update, finish };
}

/**
 * your-model.js — the demo page's "Your model" control: a diffusers UNet2DModel from a hub id ('hf:OWNER/REPO'), a
 * folder URL ending in '/', or local files (picked, a picked folder, or dropped). The files are read here on the main
 * thread with hub.js (download progress, the Cache API, the early checks: model_index.json, _class_name, .bin-only);
 * the resolved bytes then go to the workers through `use` (app.js), whose engines validate and build the model.
 *
 * URL parameter: ?hub=URL sets the hub 'hf:' ids resolve at (default https://huggingface.co; tests point it at a
 * mock hub). Test hook: demo.yourModel = { state: 'idle' | 'downloading' | 'starting' | 'ready' | 'error' |
 * 'cancelled', source, progress: DownloadProgress[] (the last 200), info: {...} of the loaded model, error }.
 */
import { resolveModel } from './hub.js';

const $ = (id) => document.getElementById(id);
const MB = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;

/** Every file under dropped folders (DataTransferItem entries) -> Map path -> File; plain dropped files as they are. */
async function droppedFiles(dt) {
  const entries = [...dt.items].map((it) => (it.webkitGetAsEntry ? it.webkitGetAsEntry() : null)).filter(Boolean);
  if (!entries.some((e) => e.isDirectory)) return [...dt.files];
  const out = new Map();
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      out.set(prefix + entry.name, await new Promise((res, rej) => entry.file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) { // readEntries returns the children in batches until an empty one
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

const TITLES = {
  UNSUPPORTED: 'This model is not supported.', IO: 'The model could not be read or downloaded.',
  FORMAT: 'The model files are damaged.', INVALID_ARGUMENT: 'Check the model id or URL.',
};

/**
 * Wires the control. ctx: { demo (the test hook object), use(resolved, name) -> Promise<config> (makes the bytes
 * the current model; rejects with an error that has title/detail or a message), busy() -> true while the page
 * samples or loads, showError(title, detail), clearError() }.
 */
export function setupYourModel(ctx) {
  const el = { src: $('user-src'), load: $('user-load'), cancel: $('user-cancel'), fp16: $('user-fp16'),
    files: $('user-files'), folder: $('user-folder'), drop: $('user-drop'), progress: $('user-progress'),
    status: $('user-status') };
  const hubBase = new URLSearchParams(location.search).get('hub') || undefined;
  const state = { state: 'idle', source: null, progress: [], info: null, error: null };
  ctx.demo.yourModel = state;
  let ctl = null;

  const set = (s, text) => {
    state.state = s;
    el.status.textContent = text;
    const downloading = s === 'downloading' || s === 'starting';
    el.load.disabled = downloading;
    el.cancel.hidden = s !== 'downloading';
    el.progress.hidden = !downloading;
  };

  function onProgress(p) {
    state.progress.push(p);
    if (state.progress.length > 200) state.progress.shift();
    if (p.total) { el.progress.max = p.total; el.progress.value = p.loaded; } else el.progress.removeAttribute('value');
    const size = p.total ? `${MB(p.loaded)} of ${MB(p.total)}` : MB(p.loaded);
    el.status.textContent = `${p.cached ? 'From the browser cache' : 'Downloading'}: ${p.file}, ${size}`;
  }

  /** src: an 'hf:' id, a folder URL, a FileList / File[] / Map; name: how the page calls it. */
  async function load(src, name) {
    if (ctx.busy() || state.state === 'downloading' || state.state === 'starting') return;
    ctx.clearError();
    ctl = new AbortController();
    Object.assign(state, { source: name, progress: [], info: null, error: null });
    set('downloading', `Reading ${name}…`);
    let resolved, cfg;
    try {
      resolved = await resolveModel(src, { hubBase, variant: el.fp16.checked ? 'fp16' : undefined, onProgress,
        signal: ctl.signal });
      set('starting', `Starting ${name} in the workers…`);
      cfg = await ctx.use(resolved, name);
    } catch (e) {
      if (e.code === 'ABORTED') { set('cancelled', 'Cancelled.'); return; }
      state.error = { code: e.code ?? null, message: e.detail || e.message };
      set('error', 'Not loaded; the model before is still in use.');
      ctx.showError(e.title || TITLES[e.code] || 'The model could not be loaded.',
        `${e.detail || e.message}${e.code ? ` (${e.code})` : ''}`);
      return;
    } finally {
      ctl = null;
    }
    const bytes = resolved.weights.length + (resolved.config?.length ?? 0) + (resolved.scheduler?.length ?? 0);
    state.info = { bytes, params: cfg.params, imageSize: cfg.imageSize, channels: cfg.inChannels, format: cfg.format,
      sampler: cfg.defaults ? cfg.defaults.sampler : null };
    const rgb = cfg.inChannels === 3 ? ' (RGB)' : cfg.inChannels === 1 ? ' (grey)' : '';
    set('ready', `${name}: ${MB(bytes)}, ${(cfg.params / 1e6).toFixed(2)} M parameters, ` +
      `${cfg.imageSize}×${cfg.imageSize}, ${cfg.inChannels} channel${cfg.inChannels > 1 ? 's' : ''}${rgb}, ` +
      `${cfg.format === 'diffusers' ? 'diffusers UNet2DModel' : 'ddpm format'}` +
      (cfg.numClasses ? `, ${cfg.numClasses} classes` : '') +
      (state.info.sampler ? `; sampler ${state.info.sampler}` : '') + '.');
  }

  function loadTyped() {
    const s = el.src.value.trim();
    if (!s) { el.src.focus(); return; }
    // A bare OWNER/REPO is a hub id too; anything else is a URL (a folder when it ends in '/').
    const src = /^[\w.-]+\/[\w.-]+(@[^/\s]+)?$/.test(s) && !/\.(safetensors|json|bin)$/.test(s) ? `hf:${s}` : s;
    load(src, src);
  }

  const fromFiles = (files) => {
    const list = files instanceof Map ? [...files.keys()] : Array.from(files, (f) => f.webkitRelativePath || f.name);
    if (!list.length) return;
    const top = list[0].includes('/') ? list[0].split('/')[0] : null;
    load(files, top ? `${top}/` : list.length === 1 ? list[0] : `${list.length} files`);
  };

  el.load.addEventListener('click', loadTyped);
  el.src.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); loadTyped(); } });
  el.cancel.addEventListener('click', () => { if (ctl) ctl.abort(new Error('cancelled')); });
  for (const input of [el.files, el.folder]) {
    input.addEventListener('change', () => { fromFiles([...input.files]); input.value = ''; });
  }
  el.drop.addEventListener('dragover', (ev) => { ev.preventDefault(); el.drop.classList.add('drop'); });
  el.drop.addEventListener('dragleave', () => el.drop.classList.remove('drop'));
  el.drop.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    el.drop.classList.remove('drop');
    try {
      fromFiles(await droppedFiles(ev.dataTransfer));
    } catch (e) {
      ctx.showError('The dropped files could not be read.', e.message);
    }
  });
  set('idle', hubBase ? `Hub: ${hubBase}` : '');
  return { load };
}

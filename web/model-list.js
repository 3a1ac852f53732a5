/**
 * model-list.js — the Model list: what ships (the default first), which of those files the server has, ?model=URL,
 * and what a model's metadata says about itself (class names, dataset, card).
 */
import { UserError, fileName, isMissing, modelHttpError } from './downloads.js';

/* URLs are relative to this page, so the page works from any static host that keeps web/ and models/ side by side.
 * Entries whose file the server does not have (404) are left out of the list. card: the model card beside it. */
export const MODELS = [
  { url: '../models/fmnist-cond.i8.safetensors', name: 'Fashion-MNIST, class-conditional (int8)', card: '../models/fmnist-cond.md' },
  { url: '../models/fmnist-uncond.i8.safetensors', name: 'Fashion-MNIST, unconditional (int8)', card: '../models/fmnist-uncond.md' },
  { url: '../models/fmnist-cond.f16.safetensors', name: 'Fashion-MNIST, class-conditional (float16)', card: '../models/fmnist-cond.md' },
  { url: '../models/fmnist-uncond.f16.safetensors', name: 'Fashion-MNIST, unconditional (float16)', card: '../models/fmnist-uncond.md' },
];

/** A metadata value by its key, with or without the file's 'ddpm.' prefix. */
export function meta(cfg, key) {
  const md = cfg.metadata || {};
  return md[`ddpm.${key}`] ?? md[key];
}

/** The class names the model's metadata stores (class_names: a JSON list or comma-separated), else "Class k". */
export function classNames(cfg) {
  for (const key of ['class_names', 'classes', 'labels']) {
    const text = meta(cfg, key);
    if (!text) continue;
    try {
      const v = JSON.parse(text);
      if (Array.isArray(v) && v.length === cfg.numClasses) return v.map(String);
    } catch {
      const v = text.split(',').map((s) => s.trim());
      if (v.length === cfg.numClasses) return v;
    }
  }
  // files exported before class_names was stored: Fashion-MNIST's labels, when the metadata names the dataset
  if (cfg.numClasses === 10 && /fashion|fmnist/i.test(String(meta(cfg, 'dataset')))) return FMNIST_CLASSES;
  return Array.from({ length: cfg.numClasses }, (_, k) => `Class ${k}`);
}
const FMNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
  'Ankle boot'];

/** The card of a shipped model file (or null). */
export function cardOf(url) {
  const m = MODELS.find((x) => url && new URL(x.url, location.href).href === new URL(url, location.href).href);
  return m ? m.card : null;
}

export function fillModels(select, list) {
  select.replaceChildren(...list.map((m) => new Option(m.name, m.url)));
}

/**
 * Loads the default model and fills the Model list. With ?model=URL that file alone (when it cannot be used, the
 * shipped models are loaded and the error says why). Otherwise the shipped entries: the first is fetched at once
 * while the others are probed with HEAD in parallel; a 404 moves on to the next entry; the list offers the entries
 * the server has. When every shipped file is missing, the error names the first one.
 * ctx: { select, demo, loadModel(url), showError(title, detail) }
 */
export async function loadDefaultModel(ctx) {
  const q = new URLSearchParams(location.search).get('model');
  if (q) {
    ctx.demo.models = [q];
    fillModels(ctx.select, [{ url: q, name: fileName(q) }]);
    try {
      return await ctx.loadModel(q);
    } catch (e) {
      const why = e instanceof UserError ? `${e.title} ${e.detail}` : e.message;
      await loadShippedModels(ctx);
      ctx.showError(`?model=${q} could not be used; the shipped model is loaded instead.`, why);
      ctx.demo.modelParamError = why;
      return undefined;
    }
  }
  return loadShippedModels(ctx);
}

async function loadShippedModels(ctx) {
  const missing = MODELS.map((m, i) => (i === 0 ? Promise.resolve(false) : isMissing(m.url)));
  for (let i = 0; i < MODELS.length; i++) {
    if (await missing[i]) continue;
    fillModels(ctx.select, [MODELS[i]]);
    try {
      await ctx.loadModel(MODELS[i].url);
    } catch (e) {
      if (e.httpStatus === 404) { missing[i] = Promise.resolve(true); continue; }
      throw e;
    }
    const gone = await Promise.all(missing);
    const list = MODELS.filter((_, k) => !gone[k]);
    ctx.demo.models = list.map((m) => m.url);
    fillModels(ctx.select, list); // keeps the selection: the loaded entry is the first one left
    return;
  }
  throw modelHttpError(MODELS[0].url, 404);
}

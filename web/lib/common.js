/*
 * common.js — the constants of the C/JS boundary (include/ddpm.h's enums and limits) and small helpers shared by
 * the engine's modules. Internal: the public surface is ddpm.js.
 */

/* The C status enum, in order (include/ddpm.h), as the short codes DdpmError.code carries. */
export const STATUS_CODES = ['OK', 'INVALID_ARGUMENT', 'OUT_OF_MEMORY', 'TOO_LARGE', 'IO', 'FORMAT', 'UNSUPPORTED',
  'SHAPE', 'MISSING_TENSOR', 'CONFIG', 'NOT_FOUND', 'EXISTS', 'VERSION', 'BUSY', 'ABORTED', 'STATE'];
export const ST_INVALID = 1;
export const PREDICTIONS = ['eps', 'x0', 'v'];
export const SCHEDULES = ['linear', 'scaled_linear', 'cosine', 'sigmoid'];
export const SPACINGS = { leading: 0, trailing: 1, linspace: 2 };
export const OPTION_TYPES = ['float', 'int', 'bool', 'choice'];
export const SCHEDULE_ARRAYS = ['betas', 'alphas', 'alphasCumprod', 'alphasCumprodPrev', 'sqrtAlphasCumprod',
  'sqrtOneMinusAlphasCumprod', 'posteriorVariance', 'posteriorLogVarianceClipped', 'posteriorMeanCoef1',
  'posteriorMeanCoef2'];
export const MAX_BATCH = 4096;              // DDPM_MAX_BATCH
export const HEAP_LIMIT = 2 ** 31;          // -sMAXIMUM_MEMORY=2GB (src/wasm/CMakeLists.txt)
export const SAMPLER_API_VERSION = 2;       // DDPM_SAMPLER_API_VERSION

export const levelsOf = (mask, n) => Array.from({ length: n }, (_, i) => i).filter((i) => (mask >>> i) & 1);
export const isInt = (v) => typeof v === 'number' && Number.isInteger(v);


/** The token that keeps constructors internal (Engine.load(), engine.loadModel()). */
export const INTERNAL = Symbol('internal');

/* ---- a macrotask yield, so that abort signals, timers and the page get a turn between steps ---- */

export let macrotask;
if (typeof setImmediate === 'function') {
  macrotask = () => new Promise((resolve) => setImmediate(resolve));
} else if (typeof MessageChannel === 'function') {
  const channel = new MessageChannel(), queue = [];
  channel.port1.onmessage = () => queue.shift()();
  macrotask = () => new Promise((resolve) => { queue.push(resolve); channel.port2.postMessage(0); });
} else {
  macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));
}


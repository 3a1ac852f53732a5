/*
 * common.js — the constants of the C/JS boundary (include/ddpm.h's enums and limits) and small helpers shared by
 * the engine's modules. Internal: the public surface is ddpm.js.
 */

/* The C/JS boundary's constants (status codes, enum names, limits, versions), generated from include/ddpm.h by
 * scripts/gen-constants.mjs into constants.js: STATUS_CODES, ST_INVALID, PREDICTIONS, SCHEDULES, SPACINGS,
 * OPTION_TYPES, SCHEDULE_ARRAYS, MAX_BATCH, HEAP_LIMIT, SAMPLER_API_VERSION, ... */
export * from './constants.js';

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


/** The result of a steps() iterator run to its end (what sample() returns). */
export async function runToEnd(it) {
  for await (const _ of it) { /* progress goes to opts.onStep */ }
  return it.result;
}

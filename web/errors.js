/**
 * errors.js — DdpmError, the one error type of web/ddpm.js and web/hub.js (re-exported by ddpm.js). Its own module
 * so that hub.js (which the demo page also uses on its main thread, without an engine) needs nothing else.
 */

/** Every error of this module. `code` is the C status without its DDPM_ERR_ prefix ('INVALID_ARGUMENT', 'FORMAT',
 * 'NOT_FOUND', ...), or a JS-side code: 'ABORTED' (a signal, onStep returning false, a broken loop) and 'PLUGIN'
 * (a JS sampler threw; the original error is `cause`). */
export class DdpmError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'DdpmError';
    this.code = code;
  }
}

export const fail = (code, msg) => { throw new DdpmError(code, msg); };

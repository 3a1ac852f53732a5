// web/ddpm.d.ts is the contract: it must compile (strict) with a usage example, and ddpm.js must export its names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as api from '../web/ddpm.js';
import { path } from './helpers.mjs';

const TSC = path('wasm-tests/node_modules/.bin/tsc');

test('ddpm.js exports what ddpm.d.ts declares', () => {
  for (const name of ['Engine', 'Model', 'NetModel', 'DdpmError', 'toRGBA', 'resolveModel']) assert.equal(typeof api[name], 'function', name);
  for (const m of ['load', 'simdSupported']) assert.equal(typeof api.Engine[m], 'function');
  for (const m of ['loadModel', 'samplers', 'registerSampler', 'unregisterSampler', 'wrapModel', 'run', 'memory', 'dispose'])
    assert.equal(typeof api.Engine.prototype[m], 'function', m);
  for (const m of ['eps', 'sample', 'steps', 'export', 'dispose']) assert.equal(typeof api.Model.prototype[m], 'function', m);
  for (const m of ['schedule', 'sample', 'steps', 'dispose']) assert.equal(typeof api.NetModel.prototype[m], 'function', m);
});

test('ddpm.d.ts type-checks with a usage example (tsc --strict)', { skip: existsSync(TSC) ? false : 'typescript is not installed (npm install --prefix wasm-tests)' }, () => {
  execFileSync(TSC, ['--noEmit', '--strict', '--target', 'es2022', '--module', 'es2022', '--moduleResolution', 'bundler',
    '--lib', 'es2022,dom', path('wasm-tests/types/usage.ts')], { stdio: 'pipe' });
});

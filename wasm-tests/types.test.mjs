// web/ddpm.d.ts is the contract: it must compile (strict) with a usage example, and ddpm.js must export its names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as api from '../web/ddpm.js';
import { path } from './helpers.mjs';
import * as K from '../web/lib/common.js';

const TSC = path('wasm-tests/node_modules/.bin/tsc');

test('ddpm.js exports what ddpm.d.ts declares', () => {
  for (const name of ['Engine', 'Model', 'NetModel', 'DdpmError', 'toRGBA', 'resolveModel']) assert.equal(typeof api[name], 'function', name);
  for (const m of ['load', 'simdSupported']) assert.equal(typeof api.Engine[m], 'function');
  for (const m of ['loadModel', 'samplers', 'registerSampler', 'unregisterSampler', 'wrapModel', 'run', 'memory', 'dispose'])
    assert.equal(typeof api.Engine.prototype[m], 'function', m);
  for (const m of ['forward', 'eps', 'sample', 'steps', 'export', 'dispose']) assert.equal(typeof api.Model.prototype[m], 'function', m);
  for (const m of ['schedule', 'sample', 'steps', 'dispose']) assert.equal(typeof api.NetModel.prototype[m], 'function', m);
});

test('ddpm.d.ts type-checks with a usage example (tsc --strict)', { skip: existsSync(TSC) ? false : 'typescript is not installed (npm install --prefix wasm-tests)' }, () => {
  execFileSync(TSC, ['--noEmit', '--strict', '--target', 'es2022', '--module', 'es2022', '--moduleResolution', 'bundler',
    '--lib', 'es2022,dom', path('wasm-tests/types/usage.ts')], { stdio: 'pipe' });
});

test('the JS constants equal the C enums (ddpm_*_name through the module): status codes, predictions, schedules, spacings, option types, schedule arrays', async () => {
  const engine = await api.Engine.load(), x = engine._x;
  const names = (fn) => { const out = []; for (let i = 0; ; i++) { const p = x[fn](i); if (!p) return out; out.push(engine._str(p)); } };
  assert.deepEqual(K.STATUS_CODES, names('ddpm_status_name'));
  assert.deepEqual(K.PREDICTIONS, names('ddpm_prediction_name'));
  assert.deepEqual([...K.SCHEDULES, 'custom'], names('ddpm_schedule_kind_name'));
  assert.deepEqual(Object.keys(K.SPACINGS), names('ddpm_spacing_name'));
  assert.deepEqual(Object.values(K.SPACINGS), [0, 1, 2]);
  assert.deepEqual(K.OPTION_TYPES, names('ddpm_option_type_name'));
  const camel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
  assert.deepEqual(K.SCHEDULE_ARRAYS, names('ddpm_schedule_array_name').map(camel));
  assert.equal(K.SAMPLER_API_VERSION, 2);
  engine.dispose();
});

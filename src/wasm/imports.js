// Declares the functions the wasm module imports from web/ddpm.js (env.ddpm_js_*), so that emcc links them as
// imports. The bodies are never used: the module is built STANDALONE_WASM and web/ddpm.js provides them.
mergeInto(LibraryManager.library, {
  ddpm_js_sampler_create: function (plugin, ctx) { return -6; },
  ddpm_js_sampler_step: function (plugin, id, ctx, i, x) { return 6; },
  ddpm_js_sampler_destroy: function (plugin, id) {},
  ddpm_js_denoise: function (model, n, x, t, y, out) { return 6; },
  ddpm_js_read: function (handle, offset_lo, offset_hi, n, dst) { return -1; },
});

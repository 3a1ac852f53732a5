/**
 * An example JavaScript sampler plugin: DDIM (Song, Meng & Ermon 2021, eq. 12), written against the public
 * plugin interface of ddpm.js only. Register it and choose it by name like any built-in:
 *
 *   import { Engine } from '../ddpm.js';
 *   import jsDdim from './plugins/ddim.js';
 *   engine.registerSampler(jsDdim);
 *   await model.sample({ sampler: 'js_ddim', samplerOptions: { eta: 0 }, steps: 50, seed: 1 });
 *
 * It follows the same rule and arithmetic as the C sampler "ddim" (src/sampler/ddim.c): every quantity in float64,
 * the model output and noise as the engine gives them, x rounded to float32 once per step. JS numbers are IEEE
 * doubles and Math.sqrt is correctly rounded, so it reproduces the C sampler bit for bit (tested to 1e-6).
 *
 * From timestep t to the next grid point p (p = -1 after the last step, abar_{-1} = 1):
 *   x0^, eps^ = the model output split by its prediction type (clip_x0: x0^ clipped to [-1, 1], eps^ re-derived)
 *   sigma     = eta sqrt((1 - abar_p) / (1 - abar_t)) sqrt(1 - abar_t / abar_p)
 *   x_p       = sqrt(abar_p) x0^ + sqrt(1 - abar_p - sigma^2) eps^ + sigma z,  z = ctx.noise(i) (stream 0)
 */

const ABAR_MIN = 1 / 16777216; // as the C samplers: abar floored at 2^-24 (zero-terminal-SNR schedules)

/* sqrt(abar), sqrt(1 - abar) and abar at grid timestep t (t = -1: the end). */
function level(ctx, t) {
  if (t < 0) return { abar: 1, sa: 1, s1: 0 };
  const abar = Math.max(ctx.schedule.alphasCumprod[t], ABAR_MIN);
  return { abar, sa: Math.sqrt(abar), s1: Math.sqrt(1 - abar) };
}

/* model output o at x with level (sa, s1) -> [x0, eps] */
function split(prediction, sa, s1, x, o) {
  if (prediction === 'x0') return [o, (x - sa * o) / s1];
  if (prediction === 'v') return [sa * x - s1 * o, sa * o + s1 * x];
  return [(x - s1 * o) / sa, o];
}

export const jsDdim = {
  apiVersion: 2,
  name: 'js_ddim',
  description: 'DDIM written in JavaScript (example plugin): deterministic at eta = 0, the DDPM posterior at eta = 1',
  evalsPerStep: 1,
  options: [
    { name: 'eta', type: 'float', default: 0, min: 0, max: 1, help: 'stochasticity: 0 = deterministic DDIM, 1 = DDPM posterior variance' },
    { name: 'clip_x0', type: 'bool', default: false, help: 'clip the predicted x0 to [-1, 1] and re-derive the noise' },
  ],

  create(ctx) {
    return { x0: new Float32Array(ctx.batch * ctx.imageElems) };
  },

  step(state, ctx, i, x) {
    const eta = ctx.options.eta, clip = ctx.options.clip_x0;
    const t = ctx.timesteps[i], p = i + 1 < ctx.numSteps ? ctx.timesteps[i + 1] : -1;
    const lt = level(ctx, t), lp = level(ctx, p);
    const out = ctx.denoise(x, t);
    let sigma = 0;
    if (eta > 0 && lp.abar < 1) {
      const v = (1 - lp.abar) / (1 - lt.abar) * (1 - lt.abar / lp.abar);
      sigma = v > 0 ? eta * Math.sqrt(v) : 0;
    }
    const dir2 = 1 - lp.abar - sigma * sigma;
    const cX0 = lp.sa, cEps = dir2 > 0 ? Math.sqrt(dir2) : 0;
    const z = sigma > 0 ? ctx.noise(i, 0) : null;
    const x0s = state.x0;
    for (let j = 0; j < x.length; j++) {
      const xt = x[j];
      let [x0, eps] = split(ctx.prediction, lt.sa, lt.s1, xt, out[j]);
      if (clip && (x0 < -1 || x0 > 1)) {
        x0 = x0 < -1 ? -1 : 1;
        eps = (xt - lt.sa * x0) / lt.s1;
      }
      x0s[j] = x0;
      let xp = cX0 * x0 + cEps * eps;
      if (sigma > 0) xp += sigma * z[j];
      x[j] = xp; // stored as float32: one rounding, as the C (float)xp
    }
    ctx.setPredX0(x0s);
  },

  destroy(state) {
    state.x0 = null;
  },
};

export default jsDdim;

// Compiled (not run) by the type-check test: the README-style usage must type-check against web/ddpm.d.ts.
import { Engine, DdpmError, toRGBA, type JsSamplerPlugin, type StepInfo } from '../../web/ddpm.js';

export async function demo(signal: AbortSignal): Promise<number> {
  const engine = await Engine.load();
  const model = await engine.loadModel('models/fmnist-cond.i8.safetensors');
  const plugin: JsSamplerPlugin = {
    apiVersion: 1, name: 'mine', options: [{ name: 'eta', type: 'float', default: 0, min: 0, max: 1, help: '' }],
    step(_state, ctx, i, x) { const out = ctx.denoise(x, ctx.timesteps[i]); x.set(out); ctx.setPredX0(out); },
  };
  engine.registerSampler(plugin);
  const it = model.steps({ seed: 7, batch: 16, classLabel: 3, guidance: 2, sampler: 'mine', signal, every: 10 });
  for await (const s of it) { const img = s.rgba('x0', { cols: 4 }); void img.data; }
  const r = await it.result;
  try {
    await model.sample({ seed: 1, steps: 50, sampler: 'ddim', samplerOptions: { eta: 0, clip_x0: true },
      onStep: (s: StepInfo) => s.step < 10 });
  } catch (e) {
    if (e instanceof DdpmError && e.code === 'ABORTED') return -1;
  }
  const grid = toRGBA(r.images, r.batch, r.channels, r.size, { scale: 2 });
  model.dispose();
  engine.dispose();
  return grid.width + engine.memory().heapBytes + model.config.numClasses + r.bytes().length;
}

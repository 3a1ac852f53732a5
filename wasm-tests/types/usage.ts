// Compiled (not run) by the type-check test: the README-style usage must type-check against web/ddpm.d.ts.
import { Engine, DdpmError, toRGBA, resolveModel, type JsSamplerPlugin, type StepInfo, type DownloadProgress,
  type ResolvedModel } from '../../web/ddpm.js';

export async function demo(signal: AbortSignal): Promise<number> {
  const engine = await Engine.load();
  const model = await engine.loadModel('models/fmnist-cond.i8.safetensors', { quantize: 'i8', memoryBudget: 8 << 20 });
  const mem = model.memory();
  void (mem.weightBytes + mem.compactBytes + mem.winogradBytes + mem.winogradPrecomputed + (mem.compact ? 1 : 0));
  const plugin: JsSamplerPlugin = {
    apiVersion: 2, name: 'mine', options: [{ name: 'eta', type: 'float', default: 0, min: 0, max: 1, help: '' }],
    step(_state, ctx, i, x) { const out = ctx.denoise(x, ctx.timesteps[i]); x.set(out); ctx.setPredX0(out); },
  };
  engine.registerSampler(plugin);
  const it = model.steps({ seed: 7, batch: 16, classLabel: 3, guidance: 2, sampler: 'mine', signal, every: 10 });
  const net = engine.wrapModel({ channels: 1, size: 28, numClasses: 10, betas: [0.1, 0.2],
    denoise: (x: Float32Array, t: Float32Array, labels: Int32Array | null) => x.map((v, i) => v * t[0] + (labels ? labels[0] : 0) + i) });
  const labelled = await net.sample({ seed: 1, batch: 2, classLabel: [3, null], sampler: 'ddim' });
  const once = await engine.run({ channels: 1, size: 4, denoise: (x) => x }, { seed: 2 }).sample();
  void (labelled.images.length + once.batch + net.schedule().alphasCumprod[0] + net.config.numTimesteps);
  net.dispose();
  for await (const s of it) { const img = s.rgba('x0', { cols: 4 }); void img.data; }
  const r = await it.result;
  try {
    await model.sample({ seed: 1, steps: 50, sampler: 'ddim', samplerOptions: { eta: 0, clip_x0: true },
      onStep: (s: StepInfo) => s.step < 10 });
  } catch (e) {
    if (e instanceof DdpmError && e.code === 'ABORTED') return -1;
  }
  const grid = toRGBA(r.images, r.batch, r.channels, r.size, { scale: 2 });
  const asPng = r.rgba({ layout: 'png', scale: 2 }), framed = r.rgba({ gap: 2, border: 1, background: [0, 0, 0, 255] });
  void (asPng.width + framed.height);
  const png: Uint8Array = r.png({ scale: 2 }), png1 = r.png();
  const q: { xt: Float32Array; eps: Float32Array } = model.qSample(r.images.slice(0, 784), 500, { seed: 3, image: 0 });
  model.dispose();
  engine.dispose();
  return grid.width + engine.memory().heapBytes + model.config.numClasses + r.bytes().length + png.length + png1[0] + q.xt[0];
}

// Diffusers models: a hub repo, a folder, files, with the download options; resolveModel for a Worker.
export async function hub(signal: AbortSignal, files: FileList): Promise<string> {
  Engine.hubBase = 'http://127.0.0.1:9000';
  const engine = await Engine.load();
  const progress = (p: DownloadProgress) => { if (p.total !== null) void (p.loaded / p.total); };
  const m = await engine.loadModel('hf:google/ddpm-cifar10-32@main', { variant: 'fp16', onProgress: progress,
    hubBase: 'https://huggingface.co', cache: false, signal, quantize: 'f16' });
  const c = m.config;
  const info = `${c.format} ${c.levelChannels.join(',')} ${c.attention.headDim ?? 1} ${c.defaults.sampler} ` +
    `${c.defaults.spacing} ${c.defaults.stepsOffset} ${c.unetConfig?.length ?? 0} ${c.schedulerConfig ?? ''}`;
  const r: ResolvedModel = await resolveModel(files, { onProgress: progress });
  const again = await engine.loadModel(r);
  const bytes: Uint8Array = again.export('i8');
  const parts = await engine.loadModel({ weights: bytes, config: { sample_size: 32 }, scheduler: '{"_class_name": "DDIMScheduler"}' });
  await engine.loadModel('https://example.com/models/mine/');
  await parts.sample({ seed: 1, timesteps: [999, 500, 0], stepsOffset: 1, startX: new Float32Array(3072),
    noise: new Float32Array(3072 * 2) });
  return info;
}

// The worker API (ddpm-wasm/worker).
import { createWorkerEngine, type WorkerModel } from '../../web/workers.js';
export async function workers(signal: AbortSignal): Promise<number> {
  const engine = await createWorkerEngine({ workers: 2, wasm: new URL('./ddpm.wasm', 'https://example.com/') });
  await engine.registerSampler(new URL('./plugins/ddim.js', 'https://example.com/'));
  const m: WorkerModel = await engine.loadModel('models/fmnist-cond.i8.safetensors', { quantize: 'i8' });
  for await (const s of m.steps({ seed: 1, batch: 4, classLabel: [0, 1, 2, null], signal, every: 5 })) void s.rgba('x0');
  const r = await m.sample({ seed: 1, batch: 4, sampler: 'js_ddim' });
  await engine.resize(1);
  const { xt } = await m.qSample(r.images.slice(0, 784), 10, { seed: 2 });
  const abar = (await m.schedule()).alphasCumprod[10];
  const split: number[] = r.stats.split;
  const n = engine.samplers().length + engine.workers + r.images.length + m.config.imageSize + xt[0] + abar +
    split.length + r.stats.ms + m.threads + (m.threadsUnavailable ?? '').length + (engine.version ?? '').length +
    (engine.busy ? 1 : 0);
  engine.dispose();
  return n;
}

// Threads for one image: the threaded module where the page is cross-origin isolated, else one thread and why.
export async function threads(): Promise<number> {
  const engine = await Engine.load(undefined, { threads: true });
  const model = await engine.loadModel('hf:google/ddpm-cifar10-32');
  if (engine.threadsSupported) await model.setThreads(0, { workerUrl: new URL('./thread-worker.js', 'https://x.test/') });
  else console.log(`one thread: ${engine.threadsUnavailable ?? ''}`);
  const n: number = model.threads;
  model.dispose();
  await model.closed;
  return n;
}

export async function deepCache(): Promise<number> {
  const engine = await Engine.load();
  const model = await engine.loadModel('models/fmnist-cond.i8.safetensors');
  const r = await model.sample({ seed: 1, steps: 50, sampler: 'ddim', deepCache: 3 });
  return r.images.length;
}

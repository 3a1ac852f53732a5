/**
 * ddpm.js — the DDPM engine (C core compiled to WebAssembly with SIMD128) as an ES module.
 * Works the same in a page, in a Web Worker and in Node >= 18. No run-time dependencies.
 *
 *   import { Engine } from './ddpm.js';
 *   const engine = await Engine.load();                       // ddpm.wasm next to ddpm.js
 *   const model = await engine.loadModel('models/fmnist-cond.i8.safetensors');
 *   const rgb = await engine.loadModel('hf:google/ddpm-cifar10-32', { onProgress: (p) => bar(p.loaded / p.total!) });
 *   for await (const s of model.steps({ seed: 7, batch: 16, classLabel: 3 })) draw(s.rgba('x0'));
 *   const { images } = await model.sample({ seed: 7, batch: 16, classLabel: 3, sampler: 'ddim', steps: 50 });
 *   model.dispose(); engine.dispose();
 *
 * Every error is a DdpmError; a failed call leaves the engine and its models usable.
 */

/** The C status enum without its DDPM_ERR_ prefix (include/ddpm.h), plus 'PLUGIN' (a JS sampler threw). 'ABORTED'
 *  also covers a signal, onStep returning false, a broken loop and a disposed model; 'IO' a failed fetch/read. */
export type DdpmErrorCode = 'INVALID_ARGUMENT' | 'OUT_OF_MEMORY' | 'TOO_LARGE' | 'IO' | 'FORMAT' | 'UNSUPPORTED' |
  'SHAPE' | 'MISSING_TENSOR' | 'CONFIG' | 'NOT_FOUND' | 'EXISTS' | 'VERSION' | 'BUSY' | 'ABORTED' | 'STATE' | 'PLUGIN';

/** Every error of the module. The message is the C core's one-line message (or the JS layer's). */
export class DdpmError extends Error {
  readonly code: DdpmErrorCode;
  /** The AbortSignal's reason, or what a JS sampler threw. */
  readonly cause?: unknown;
}

/** One file's bytes: a URL/path (fetched; a file path in Node), an ArrayBuffer/typed array, a fetch Response or a
 *  Blob / File. */
export type FileSource = string | URL | ArrayBuffer | ArrayBufferView | Response | Blob;

/** A Hugging Face diffusers UNet2DModel as its files. */
export interface DiffusersFiles {
  /** diffusion_pytorch_model.safetensors (F32, F16 or BF16). */
  weights: FileSource;
  /** config.json: a file, or its JSON text or object (null: `weights` is this project's single file, as in a
   *  ResolvedModel). */
  config: FileSource | object | null;
  /** scheduler_config.json (DDPMScheduler, DDIMScheduler or PNDMScheduler); absent: DDPMScheduler's defaults. */
  scheduler?: FileSource | object | null;
}

/**
 * What Engine.loadModel and resolveModel take:
 * - this project's single weights file (a FileSource; also what Model.export writes);
 * - a diffusers UNet2DModel as DiffusersFiles;
 * - `'hf:OWNER/REPO'` or `'hf:OWNER/REPO@REVISION'` (default revision 'main'): a Hugging Face hub repo, its files
 *   at `{hubBase}/{OWNER}/{REPO}/resolve/{REVISION}/{file}`;
 * - a folder: a URL string ending in '/' (relative to the page), or in Node a directory path (file: URL, or a path
 *   ending in '/' or naming a directory);
 * - files picked in a page: a FileList / File[] (paths from webkitRelativePath, so a webkitdirectory pick works) or
 *   a Map from path to Blob (a dropped folder). A common top folder is ignored; a lone .safetensors file beside a
 *   config.json is taken as the weights whatever its name; one .safetensors file alone is a single-file model.
 *
 * A folder or repo is read as diffusers lays it out: model_index.json first (optional; when present its "unet" must
 * be ["diffusers", "UNet2DModel"], and the files are then in unet/ and scheduler/; a pipeline with a vae /
 * text_encoder or a UNet2DConditionModel is a latent text-to-image pipeline such as Stable Diffusion: 'UNSUPPORTED'),
 * then config.json (its _class_name must be UNet2DModel: checked before the weights are downloaded),
 * scheduler_config.json (optional) and diffusion_pytorch_model.safetensors (or the variant file, see
 * LoadOptions.variant). Only diffusion_pytorch_model.bin there: 'UNSUPPORTED', with how to convert it
 * (training/bin_to_safetensors.py).
 */
export type ModelSource = FileSource | DiffusersFiles | FileList | Blob[] | Map<string, Blob>;

/** A download's progress: after every chunk of every file (one event per file when it comes from the cache or a
 *  local file). */
export interface DownloadProgress {
  /** The file's path in the folder / repo: 'config.json', 'unet/diffusion_pytorch_model.safetensors', ... */
  file: string;
  /** The URL it is read from (the resolve URL for a hub file), or the local path. */
  url: string;
  /** Bytes so far, increasing; equals total at the end. */
  loaded: number;
  /** Content-Length, or null when the server sends none (or a compressed body). */
  total: number | null;
  /** True when the file came from the Cache API. */
  cached?: boolean;
}

export interface LoadOptions {
  /** Rounds the weights on load: 'f32' (as stored; default), 'f16', or 'i8' (per-output-channel scales). */
  quantize?: 'f32' | 'f16' | 'i8';
  /** Where the 3x3 convolutions' Winograd weights (4x the raw ones) live: 'auto' (default: precomputed up to
   *  512 MiB, else 'on-the-fly'), 'precomputed', or 'on-the-fly' (each convolution transforms its weights when it
   *  runs: about a third of the memory; 6.7x slower at 32x32, a small cost at 256x256). The same results. */
  winograd?: 'auto' | 'precomputed' | 'on-the-fly';
  /** With quantize 'i8' or 'f16': keep the 3x3 convolutions' weights (nearly all of them) in that form in memory,
   *  expanded per call, with Winograd weights on the fly: the same results as without, a fraction of the heap (the
   *  CIFAR-10 network: 45 MB of weights instead of 143 MB); slower at small image sizes. */
  compact?: boolean;
  /** Bytes the model's resident weights may take (0 or absent: no budget): with quantize 'f16' / 'i8' the 3x3
   *  weights are held compactly when the float32 ones do not fit, then Winograd weights are precomputed for the
   *  convolutions that fit (the others transform per call). The same images for any budget; TOO_LARGE, with the
   *  bytes needed, when the weights cannot fit. model.memory() says what was chosen. */
  memoryBudget?: number;
  /** Folders and repos: a diffusers weights variant, e.g. 'fp16' reads diffusion_pytorch_model.fp16.safetensors,
   *  falling back to diffusion_pytorch_model.safetensors when the variant file is 404. */
  variant?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** The hub for 'hf:' ids in this call (a mirror, a local test server); default Engine.hubBase. */
  hubBase?: string;
  /** false: the Cache API is neither read nor written. Otherwise, where it exists (browsers; not Node), every file
   *  of a folder or repo, and the absence (404) of an optional one, is kept in the cache 'ddpm-models-v1' under its
   *  URL (the resolve URL for a hub file) and read from there next time without the network, so a cached model
   *  loads offline. A revision such as 'main' can move: give a commit as the revision to pin one, or clear the
   *  cache to see a newer one. */
  cache?: boolean;
  /** Aborts the downloads: rejects with code 'ABORTED'. */
  signal?: AbortSignal;
}

/** A model's bytes as the loader takes them: what resolveModel returns (structured-cloneable: post it to a Worker
 *  and pass it to loadModel there). */
export interface ResolvedModel {
  weights: Uint8Array;
  /** config.json; null for this project's single-file format (the config is in the file). */
  config: Uint8Array | null;
  /** scheduler_config.json; null when there is none. */
  scheduler: Uint8Array | null;
  /** The hub id / folder URL for messages; null for a single file or DiffusersFiles. */
  where: string | null;
}

/**
 * Reads a ModelSource into bytes without an engine: the download, progress, cache and early checks of
 * Engine.loadModel (options other than quantize). Errors, each a DdpmError with the URL in its message: 'IO' for
 * HTTP 404 ("not found"), 401 / 403 ("forbidden, the repo may be gated or private"), a failed fetch ("a CORS policy
 * or the network may be the cause") and a body shorter than its Content-Length ("truncated download: got N of M
 * bytes"); 'UNSUPPORTED' for a text-to-image pipeline, a non-UNet2DModel config or .bin-only weights; 'FORMAT' for a
 * JSON file that does not parse; 'ABORTED'; 'INVALID_ARGUMENT' for a malformed 'hf:' id or option.
 */
export function resolveModel(src: ModelSource, opts?: Omit<LoadOptions, 'quantize'>): Promise<ResolvedModel>;

export interface ModelConfig {
  inChannels: number;
  outChannels: number;
  baseChannels: number;
  channelMult: number[];
  numResBlocks: number;
  attnResolutions: number[];
  groups: number;
  /** 0 = unconditional; otherwise labels 0..numClasses-1 (and the null class for guidance). */
  numClasses: number;
  imageSize: number;
  prediction: 'eps' | 'x0' | 'v';
  variance: 'fixed_small' | 'fixed_large';
  /** T, the number of diffusion timesteps. */
  numTimesteps: number;
  schedule: 'linear' | 'scaled_linear' | 'cosine' | 'sigmoid';
  betaStart: number;
  betaEnd: number;
  rescaleZeroSnr: boolean;
  params: number;
  /** Multiply-adds x 2 of one U-Net evaluation of one image. */
  flops: number;
  /** `__metadata__` of the file (dataset, training steps, metrics, class names...). */
  metadata: Record<string, string>;
  /** 'diffusers' for a diffusers UNet2DModel (also after Model.export), 'ddpm' for this project's format. */
  format: 'diffusers' | 'ddpm';
  /** Channels of each resolution level (block_out_channels; baseChannels x channelMult for 'ddpm'). */
  levelChannels: number[];
  /** Where self-attention sits: levels (0 = full resolution) of the encoder and decoder, the middle block, and the
   *  channels per head (attention_head_dim; null: one head). */
  attention: { downLevels: number[]; upLevels: number[]; mid: boolean; headDim: number | null };
  /** GroupNorm epsilon. */
  normEps: number;
  /** True when a class-conditional model has the null class (classifier-free guidance, classLabel null). */
  nullClass: boolean;
  /** True when the schedule is computed in float32 as diffusers does (diffusers models). */
  float32Schedule: boolean;
  /** What sample() uses when the options leave them out: from scheduler_config.json for diffusers models
   *  (DDPMScheduler -> 'ddpm', DDIMScheduler -> 'ddim', PNDMScheduler -> 'plms'; timestep_spacing; steps_offset),
   *  otherwise 'ddpm', 'leading', 0. samplerOptions: the option values the scheduler config implies (clip_x0,
   *  clip_range, set_alpha_to_one, clip_eps, variance), applied to every sampler that has an option of that name
   *  unless sample()'s samplerOptions set it; empty for 'ddpm' models. */
  defaults: { sampler: string; spacing: 'leading' | 'trailing' | 'linspace'; stepsOffset: number;
    samplerOptions: Record<string, number> };
  /** The diffusers config.json and scheduler_config.json texts the model was loaded from (null for 'ddpm'). */
  unetConfig: string | null;
  schedulerConfig: string | null;
}

export interface SamplerOptionInfo {
  name: string;
  type: 'float' | 'int' | 'bool' | 'choice';
  default: number | boolean | string;
  min?: number;
  max?: number;
  choices?: string[];
  help: string;
}

export interface SamplerInfo {
  name: string;
  description: string;
  options: SamplerOptionInfo[];
  evalsPerStep: number;
  /** 'builtin' for the C samplers, 'js' for plugins registered from JavaScript. */
  kind: 'builtin' | 'js';
}

export interface SampleOptions {
  /** Registry name (see Engine.samplers()); default 'ddpm' (ancestral, Algorithm 2). */
  sampler?: string;
  /** By option name; unspecified options take their defaults. */
  samplerOptions?: Record<string, number | boolean | string>;
  /** 1..T; default T. */
  steps?: number;
  /** Default: the model's defaults.spacing. */
  spacing?: 'leading' | 'trailing' | 'linspace';
  /** Added to every timestep of the leading grid (diffusers' steps_offset), clamped to T-1; 0..T-1, default the
   *  model's defaults.stepsOffset. */
  stepsOffset?: number;
  /** A custom grid instead of steps / spacing (diffusers' set_timesteps(timesteps=...)): 1..T strictly descending
   *  integers in [0, T). */
  timesteps?: ArrayLike<number>;
  /** Replay: x at the first timestep, [batch, C, S, S], instead of the seeded x_T. */
  startX?: Float32Array;
  /** Replay: [K, batch, C, S, S]: the k-th noise draw of the sampler takes tensor k instead of the RNG (ddpm draws
   *  once per step but the last); a run that needs more than K fails with 'INVALID_ARGUMENT'. */
  noise?: Float32Array;
  /** Integer 0 .. 2^53-1. Required. */
  seed: number;
  /** 1..4096 and what the 2 GiB wasm heap allows (refused with 'TOO_LARGE' before allocating); default 1.
   *  The shipped 28x28 model needs about 76 MiB for 16 images with guidance. */
  batch?: number;
  /** Global index of image 0: image k's noise depends on (seed, firstImage + k) only. Default 0. */
  firstImage?: number;
  /** Conditional models only: 0..numClasses-1, or null / -1 for the null class; or one label per image (an array
   *  of batch labels, each a class or null / -1): image k then equals a batch-1 run of its own label and
   *  firstImage + k, bit for bit. Under guidance, null-labelled images are sampled unguided. */
  classLabel?: number | null | ArrayLike<number | null>;
  /** Classifier-free guidance scale w (1 = none); conditional models only. */
  guidance?: number;
  /** Image-to-image start: [batch or 1, C, S, S] in [-1, 1], or grey 0..255 bytes of S*S (or RGBA S*S*4: RGB for
   *  3-channel models, luma for 1-channel ones); one image is used for every image of the batch. */
  init?: Float32Array | Uint8Array | Uint8ClampedArray;
  /** Required with init: 0 < strength <= 1; sampling starts at the grid's first t <= round(strength T) - 1. */
  strength?: number;
  signal?: AbortSignal;
  /** Called after every `every`-th step (and the last); return false to stop (rejects with code 'ABORTED'). */
  onStep?: (s: StepInfo) => void | boolean;
  /** Reporting interval of onStep and of the steps() iterator, default 1. The run yields to the event loop (a
   *  macrotask) before every step regardless, so an abort is seen before the next step starts. */
  every?: number;
  /** DeepCache (Ma et al. 2024): 0 or 1 (default) off; k >= 2: a full model evaluation every k, the U-Net's shallow
   *  branch only in between, over the kept output of its deep branch. Faster, approximate (models/fmnist-cond.md
   *  measures the cost in FD); any sampler; loaded U-Nets of two levels or more ('UNSUPPORTED' otherwise). */
  deepCache?: number;
}

/** How rgba() lays a batch out. */
export interface RGBAOptions {
  /** Images per row (default ceil(sqrt(n))). */
  cols?: number;
  /** Each image scaled this many times, nearest neighbour (default 1). */
  scale?: number;
  /** Pixels between the images (default 1) and around the grid (default 0), filled with background. */
  gap?: number;
  border?: number;
  /** [r, g, b, a] of the gaps and the border (default [0, 0, 0, 0], transparent). */
  background?: [number, number, number, number];
  /** 'png': png()'s layout (2 px of opaque black around and between, the whole grid upscaled by scale): the same
   *  pixels as the decoded PNG for 1- and 3-channel images (gap, border and background are then ignored). */
  layout?: 'png';
}

export interface RGBAImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export interface StepInfo {
  /** Steps taken so far (1..numSteps). */
  step: number;
  numSteps: number;
  /** The timestep this step started from. */
  t: number;
  /** Copies: [batch, C, S, S]. */
  x: Float32Array;
  x0: Float32Array;
  /** The batch as one grid image (cols default ceil(sqrt(batch)), scale default 1, gap 1 px, transparent; see
   *  RGBAOptions: layout 'png' gives png()'s pixels). */
  rgba(which?: 'x' | 'x0', opts?: RGBAOptions): RGBAImage;
}

export interface SampleResult {
  /** [batch, C, S, S] in [-1, 1]. */
  images: Float32Array;
  batch: number;
  channels: number;
  size: number;
  /** 8-bit pixels exactly as the C core's ddpm_to_u8 (the CLI's PNGs hold the same bytes). */
  bytes(): Uint8Array;
  rgba(opts?: RGBAOptions): RGBAImage;
  /** The CLI's grid PNG bytes: exactly the file `ddpm sample ... --out grid.png [--scale K]` writes for the same
   * seed and options (ceil(sqrt(batch)) columns, 2 px black padding, grey for 1 channel, RGB for 3, other channel
   * counts side by side as grey; encoded in the module by the CLI's stb_image_write). scale: an integer 1..32
   * (default 1), nearest neighbour. Works after the run is over; needs the engine not disposed. */
  png(opts?: { scale?: number }): Uint8Array;
}

/**
 * A sampler written in JavaScript: registered into the same C registry as the built-ins, listed by samplers(),
 * chosen by name in sample options, given the run's guided model and noise streams. The JS interface of sampler
 * API versions 1 and 2 is the same (2 adds ctx.labels and destroy's ctx); both are accepted. A complete one, Euler
 * on the probability-flow ODE, with a model plugin to run it on (wasm-tests/tutorial.test.mjs runs this text):
 *
 *     const myEuler = {
 *       apiVersion: 2,
 *       name: 'my_euler_js',
 *       description: 'Euler on the probability-flow ODE',
 *       step(state, ctx, i, x) {
 *         const ab = ctx.schedule.alphasCumprod, t = ctx.timesteps[i];
 *         const tn = i + 1 < ctx.numSteps ? ctx.timesteps[i + 1] : -1;
 *         const a = ab[t], an = tn < 0 ? 1 : ab[tn];
 *         const eps = ctx.denoise(x, t);           // [batch * imageElems], guided
 *         const sig = Math.sqrt((1 - a) / a), sign = Math.sqrt((1 - an) / an);
 *         const x0 = new Float32Array(x.length);
 *         for (let j = 0; j < x.length; j++) {
 *           x0[j] = (x[j] - Math.sqrt(1 - a) * eps[j]) / Math.sqrt(a);
 *           x[j] = Math.sqrt(an) * (x[j] / Math.sqrt(a) + (sign - sig) * eps[j]);   // in place
 *         }
 *         ctx.setPredX0(x0);                       // optional: shown as StepInfo.x0
 *       },
 *     };
 *     engine.registerSampler(myEuler);
 *
 *     // a model plugin: the exact noise prediction of data N(0.25, 0.4^2) per pixel
 *     const gauss = {
 *       channels: 1, size: 4,
 *       denoise(x, t) {
 *         const out = new Float32Array(x.length), per = x.length / t.length;
 *         for (let k = 0; k < t.length; k++) {
 *           const a = abar[Math.round(t[k])];
 *           for (let j = k * per; j < (k + 1) * per; j++)
 *             out[j] = Math.sqrt(1 - a) * (x[j] - Math.sqrt(a) * 0.25) / (a * 0.16 + 1 - a);
 *         }
 *         return out;
 *       },
 *     };
 *     const net = engine.wrapModel(gauss);
 *     const abar = net.schedule().alphasCumprod;     // the engine's linear schedule, T = 1000
 *     const { images } = await net.sample({ sampler: 'my_euler_js', steps: 100, seed: 1, batch: 8 });
 *     net.dispose();
 */
export interface JsSamplerPlugin {
  apiVersion: 1 | 2;
  name: string;
  description?: string;
  options?: SamplerOptionInfo[];
  evalsPerStep?: number;
  /** Per-run state. */
  create?(ctx: SamplerContext): unknown;
  /** Advance x (in place, [batch * imageElems]) by step i. */
  step(state: unknown, ctx: SamplerContext, i: number, x: Float32Array): void;
  destroy?(state: unknown, ctx: SamplerContext): void;
}

export interface SamplerContext {
  batch: number;
  imageElems: number;
  numSteps: number;
  /** Descending; the step after the last goes to t = -1. */
  timesteps: Int32Array;
  /** T: the length of each schedule array. */
  numTimesteps: number;
  prediction: 'eps' | 'x0' | 'v';
  /** Per-image class labels (-1 = the null class), or null for an unconditional run; informational (denoise()
   *  applies the labels and the guidance itself). */
  labels: number[] | null;
  /** Option values by name, validated. */
  options: Record<string, number | boolean | string>;
  /** Schedule arrays (float64, length T): betas, alphas, alphasCumprod, alphasCumprodPrev, sqrtAlphasCumprod,
   *  sqrtOneMinusAlphasCumprod, posteriorVariance, posteriorLogVarianceClipped, posteriorMeanCoef1, posteriorMeanCoef2. */
  schedule: Record<string, Float64Array>;
  /** The (guided) model output for x ([batch * imageElems]) at per-image timesteps t (fractional allowed); a copy. */
  denoise(x: Float32Array, t: Float32Array | number): Float32Array;
  /** Standard normals for step `step`, stream 0..255: [batch * imageElems], same stream as the C samplers. */
  noise(step: number, stream?: number): Float32Array;
  /** Optional: publish the current x0 estimate. */
  setPredX0(x0: Float32Array): void;
}

export class Model {
  readonly config: ModelConfig;
  /** One U-Net evaluation: x [n, C, S, S], t per image (or one number), y labels 0..numClasses (numClasses = the
   *  null class) or null. Returns the raw output [n, outChannels, S, S]: eps, x0 or v as config.prediction says. */
  forward(x: Float32Array, t: number | ArrayLike<number>, y?: ArrayLike<number> | null): Float32Array;
  /** The model's schedule arrays (float64, length numTimesteps), named as SamplerContext.schedule's. */
  schedule(): Record<string, Float64Array>;
  /** The forward process q(x_t | x_0): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for x0 [n, C, S, S] at
   *  timestep t (0 .. numTimesteps - 1) of the model's schedule; image k's eps is the stream (seed, image + k) of
   *  NOISE.forward, the noise an image-to-image run of that seed adds to its start image. */
  qSample(x0: Float32Array, t: number, opts?: { seed?: number; image?: number }): { xt: Float32Array; eps: Float32Array };
  /** @deprecated The older name of forward(). */
  eps(x: Float32Array, t: number | ArrayLike<number>, y?: ArrayLike<number> | null): Float32Array;
  sample(opts: SampleOptions): Promise<SampleResult>;
  /** The reverse process step by step; `result` resolves when it finishes. Breaking out of the loop aborts. */
  steps(opts: SampleOptions): AsyncIterableIterator<StepInfo> & { result: Promise<SampleResult> };
  /** The model as one safetensors file in this project's format ('f32', 'f16' or 'i8' weights, as `ddpm convert`);
   *  a diffusers model's file carries its config.json and scheduler_config.json and loads alone as the same model. */
  export(dtype?: 'f32' | 'f16' | 'i8'): Uint8Array;
  /** The forward pass's kernels: 'simd' (default), 'scalar' (the plain reference) or 'precise' (double sums and
   *  transcendentals, eps within ~2e-6 of a float64 pass: for reproducing another engine's long deterministic runs,
   *  such as a 50-step DDIM replay of diffusers, within 1e-3; slowest). */
  setKernels(kind: 'simd' | 'scalar' | 'precise'): void;
  /** Threads for each forward pass, with the same bits for any count: 1 .. 64, or 0 for every processor when the
   *  model has at least 2 GFLOP per evaluation (else 1). Needs an engine loaded with { threads: true } where
   *  threads are available (engine.threadsSupported), else rejects with 'UNSUPPORTED' and the reason; starts
   *  n - 1 workers (thread-worker.js, next to lib/threads.js unless workerUrl says where) and resolves once they
   *  run. 'BUSY' while a run is in flight. Measured: the CIFAR-10 network (12 GFLOP) in 144 ms on 1 thread, 90 ms
   *  on 2 (Node 20, 2 cores). */
  setThreads(threads: number, opts?: { workerUrl?: string | URL }): Promise<void>;
  /** Where the resident memory goes: the float32 arena, the compact weights, the precomputed Winograd weights (their
   *  sum is what memoryBudget bounds), and how many 3x3 stride-1 convolutions have precomputed Winograd weights. */
  memory(): { weightBytes: number; compactBytes: number; winogradBytes: number; winogradConvs: number;
    winogradPrecomputed: number; compact: boolean };
  /** The thread count in use. */
  readonly threads: number;
  /** Frees the model's wasm memory; runs still using it end with code 'ABORTED'. With threads, the workers are
   *  terminated right after; `closed` settles when they are. */
  dispose(): void;
  readonly closed?: Promise<void>;
}

/** A network evaluated in JavaScript (a test model, another runtime run synchronously). */
export interface JsModel {
  /** The model output for n images: x [n, channels, size, size], t [n] (fractional for some samplers), labels [n]
   *  (-1 = the null class) or null for an unconditional evaluation. Must be synchronous; an asynchronous network
   *  awaits its output between steps (web/lib/net-model.js describes how) and returns it here. */
  denoise(x: Float32Array, t: Float32Array, labels: Int32Array | null): Float32Array | ArrayLike<number>;
  /** For messages. */
  name?: string;
  channels: number;
  size: number;
  /** What denoise() returns; default 'eps'. */
  prediction?: 'eps' | 'x0' | 'v';
  /** 0 (default): unconditional; else labels 0..numClasses-1. */
  numClasses?: number;
  /** Whether the model knows the null class (unconditional evaluation, guidance); default true. */
  nullClass?: boolean;
  /** The schedule: explicit betas, or a named one (default linear, 1000 steps, 1e-4 .. 0.02). */
  betas?: ArrayLike<number>;
  schedule?: 'linear' | 'scaled_linear' | 'cosine' | 'sigmoid';
  numTimesteps?: number;
  betaStart?: number;
  betaEnd?: number;
  rescaleZeroSnr?: boolean;
  /** Compute the schedule in float32 as diffusers does. */
  float32?: boolean;
  /** Defaults of sample() (sampler 'ddpm', spacing 'leading', stepsOffset 0 unless given). */
  defaults?: { sampler?: string; spacing?: 'leading' | 'trailing' | 'linspace'; stepsOffset?: number };
}

/** A JsModel inside the engine (Engine.wrapModel). */
export class NetModel {
  readonly config: { format: 'js'; inChannels: number; outChannels: number; imageSize: number; numClasses: number;
    nullClass: boolean; prediction: 'eps' | 'x0' | 'v'; schedule: string; numTimesteps: number;
    defaults: { sampler: string; spacing: string; stepsOffset: number; samplerOptions: Record<string, number> } };
  /** The schedule arrays the engine built (float64, numTimesteps each): betas, alphasCumprod, ... */
  schedule(): Record<string, Float64Array>;
  sample(opts: SampleOptions): Promise<SampleResult>;
  steps(opts: SampleOptions): AsyncIterableIterator<StepInfo> & { result: Promise<SampleResult> };
  dispose(): void;
}

export class Engine {
  /** wasm: URL/path of ddpm.wasm (default: next to ddpm.js), its bytes, a Response or a compiled Module.
   *  opts.threads: load the threaded module (dist/ddpm-threads.wasm, or opts.threadsWasm) over a shared memory, so
   *  that Model.setThreads works, where this JS environment allows it (Node; a page served with
   *  Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp). Elsewhere the plain
   *  module is loaded and threadsUnavailable says why. */
  static load(wasm?: string | URL | ArrayBuffer | ArrayBufferView | Response | WebAssembly.Module,
              opts?: { threads?: boolean; threadsWasm?: string | URL | ArrayBuffer | ArrayBufferView | Response }): Promise<Engine>;
  /** True when this engine runs the threaded module (Model.setThreads(n > 1) works). */
  readonly threadsSupported: boolean;
  /** Why Model.setThreads(n > 1) is refused here (no { threads: true }, no cross-origin isolation, ...), or null. */
  readonly threadsUnavailable: string | null;
  /** True when the running JS engine validates WASM SIMD128 (the engine needs it). */
  static simdSupported(): boolean;
  /** Where 'hf:' ids resolve when loadModel gets no hubBase: 'https://huggingface.co' unless set (a mirror, a test
   *  server). Global to the module (every Engine, and resolveModel). */
  static hubBase: string;
  readonly version: string;
  /** The vector backend compiled into the wasm ('wasm-simd128'). */
  readonly simdBackend: string;
  /** Loads a model from any ModelSource (see there for folders, 'hf:' repos and the diffusers layout). The bytes are
   *  copied into the wasm heap once and parsed there by the C loader, which validates every config key, shape and
   *  tensor: 'UNSUPPORTED' names an unsupported config value, 'CONFIG', 'SHAPE', 'MISSING_TENSOR', 'FORMAT' what is
   *  wrong; for a folder or repo the message starts with its id / URL. Download errors: see resolveModel. */
  loadModel(src: ModelSource, opts?: LoadOptions): Promise<Model>;
  samplers(): SamplerInfo[];
  /** Registers into the C registry (no limit on their number). Errors: 'EXISTS', 'VERSION', 'INVALID_ARGUMENT'
   *  (name not [a-z0-9_]{1,32}, no step, malformed option). */
  registerSampler(plugin: JsSamplerPlugin): void;
  /** A model plugin: a network evaluated in JS, sampled by every registered sampler (built-in or JS) with the
   *  interface of a loaded Model. Errors thrown by denoise() end the run with code 'PLUGIN'. */
  wrapModel(net: JsModel): NetModel;
  /** One run over a model plugin: run(net, opts).sample() or .steps(), once; the wrapper is freed at the end. */
  run(net: JsModel, opts: SampleOptions): { model: NetModel; sample(): Promise<SampleResult>;
    steps(): AsyncIterableIterator<StepInfo> & { result: Promise<SampleResult> } };
  /** JS or built-in sampler. Errors: 'NOT_FOUND', 'BUSY' (a run still uses it). */
  unregisterSampler(name: string): void;
  /** Bytes of wasm linear memory (it only grows) and bytes the allocator has in use. */
  memory(): { heapBytes: number; inUseBytes: number };
  /** Frees every model; later calls throw code 'STATE'. Each Engine has its own wasm instance and registry. */
  dispose(): void;
}

/** [n, C, S, S] floats in [-1, 1] -> one RGBA grid (pixels exactly ddpm_to_u8; 1 channel grey, 3 RGB, otherwise
 *  channel 0 grey; transparent gaps). */
export function toRGBA(images: Float32Array, n: number, channels: number, size: number,
                       opts?: RGBAOptions): RGBAImage;

/**
 * ddpm.js — the DDPM engine (C core compiled to WebAssembly with SIMD128) as an ES module.
 * Works the same in a page, in a Web Worker and in Node >= 18. No run-time dependencies.
 *
 *   import { Engine } from './ddpm.js';
 *   const engine = await Engine.load();                       // ddpm.wasm next to ddpm.js
 *   const model = await engine.loadModel('models/fmnist-cond.i8.safetensors');
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

/** Model bytes: a URL/path (fetched; a file path in Node), an ArrayBuffer/typed array, or a fetch Response. */
export type ModelSource = string | URL | ArrayBuffer | ArrayBufferView | Response;

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
  spacing?: 'leading' | 'trailing' | 'linspace';
  /** Integer 0 .. 2^53-1. Required. */
  seed: number;
  /** 1..4096 and what the 2 GiB wasm heap allows (refused with 'TOO_LARGE' before allocating); default 1.
   *  The shipped 28x28 model needs about 76 MiB for 16 images with guidance. */
  batch?: number;
  /** Global index of image 0: image k's noise depends on (seed, firstImage + k) only. Default 0. */
  firstImage?: number;
  /** Conditional models only: 0..numClasses-1, or null / -1 for the null class. */
  classLabel?: number | null;
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
  /** The batch as one grid image (cols default ceil(sqrt(batch)), scale default 1, gap 1 px, transparent). */
  rgba(which?: 'x' | 'x0', opts?: { cols?: number; scale?: number; gap?: number }): RGBAImage;
}

export interface SampleResult {
  /** [batch, C, S, S] in [-1, 1]. */
  images: Float32Array;
  batch: number;
  channels: number;
  size: number;
  /** 8-bit pixels exactly as the C core's ddpm_to_u8 (the CLI's PNGs hold the same bytes). */
  bytes(): Uint8Array;
  rgba(opts?: { cols?: number; scale?: number; gap?: number }): RGBAImage;
}

/** A sampler written in JavaScript: registered into the same C registry as the built-ins. */
export interface JsSamplerPlugin {
  apiVersion: 1;
  name: string;
  description?: string;
  options?: SamplerOptionInfo[];
  evalsPerStep?: number;
  /** Per-run state. */
  create?(ctx: SamplerContext): unknown;
  /** Advance x (in place, [batch * imageElems]) by step i. */
  step(state: unknown, ctx: SamplerContext, i: number, x: Float32Array): void;
  destroy?(state: unknown): void;
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
   *  null class) or null. */
  eps(x: Float32Array, t: number | ArrayLike<number>, y?: ArrayLike<number> | null): Float32Array;
  sample(opts: SampleOptions): Promise<SampleResult>;
  /** The reverse process step by step; `result` resolves when it finishes. Breaking out of the loop aborts. */
  steps(opts: SampleOptions): AsyncIterableIterator<StepInfo> & { result: Promise<SampleResult> };
  /** Frees the model's wasm memory; runs still using it end with code 'ABORTED'. */
  dispose(): void;
}

export class Engine {
  /** wasm: URL/path of ddpm.wasm (default: next to ddpm.js), its bytes, a Response or a compiled Module. */
  static load(wasm?: string | URL | ArrayBuffer | ArrayBufferView | Response | WebAssembly.Module): Promise<Engine>;
  /** True when the running JS engine validates WASM SIMD128 (the engine needs it). */
  static simdSupported(): boolean;
  readonly version: string;
  /** The vector backend compiled into the wasm ('wasm-simd128'). */
  readonly simdBackend: string;
  loadModel(src: ModelSource): Promise<Model>;
  samplers(): SamplerInfo[];
  /** Registers into the C registry (at most 16 JS samplers at once). Errors: 'EXISTS', 'VERSION', 'INVALID_ARGUMENT'
   *  (name not [a-z0-9_]{1,32}, no step, malformed option), 'TOO_LARGE'. */
  registerSampler(plugin: JsSamplerPlugin): void;
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
                       opts?: { cols?: number; scale?: number; gap?: number }): RGBAImage;

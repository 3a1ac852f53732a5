/**
 * The engine in Web Workers (`ddpm-wasm/worker`): the interface of the in-thread Engine / Model, with a batch split
 * over a pool of workers (bit-identical to one engine), JS sampler plugins registered once by module URL, and
 * AbortSignal / onStep crossing to the workers. Browsers only; one model at a time per WorkerEngine.
 *
 *   import { createWorkerEngine } from 'ddpm-wasm/worker';
 *   const engine = await createWorkerEngine({ workers: 4 });
 *   await engine.registerSampler(new URL('./my-sampler.js', import.meta.url));
 *   const model = await engine.loadModel('models/fmnist-cond.i8.safetensors');
 *   const { images } = await model.sample({ seed: 1, batch: 8, sampler: 'my_sampler' });
 */
import type { LoadOptions, ModelConfig, ModelSource, SampleOptions, SampleResult, SamplerInfo, StepInfo } from './ddpm.js';

export interface WorkerEngineOptions {
  /** Number of workers, 1..256 (default 1). */
  workers?: number;
  /** ddpm.wasm (URL, bytes, Response or a compiled Module, or a promise of one: the workers start meanwhile);
   *  default: next to this file. Compiled once, shared. */
  wasm?: WasmSource | Promise<WasmSource>;
  /** The worker script (default: the package's worker.js next to this file): for bundlers that move files. */
  workerUrl?: string | URL;
}

export type WasmSource = string | URL | ArrayBuffer | ArrayBufferView | Response | WebAssembly.Module;

/** A worker's error: a DdpmError with the stage it failed in. */
export interface WorkerError extends Error {
  code: string;
  stage?: 'engine' | 'plugin' | 'model' | 'run' | 'request';
  /** On ABORTED errors of a run: how far it got. */
  stats?: RunStats;
}

/** How a run went: its wall time, the images each worker sampled (the batch split), the last step a worker took. */
export interface RunStats { ms: number; split: number[]; lastStep: number; }

export function createWorkerEngine(opts?: WorkerEngineOptions): Promise<WorkerEngine>;

export class WorkerEngine {
  readonly workers: number;
  /** ddpm_version() of the workers' engine, once a model is loaded (else null). */
  readonly version: string | null;
  /** A run is in progress. */
  readonly busy: boolean;
  resize(n: number): Promise<void>;
  /** Every registered sampler, as Engine.samplers() (after loadModel). */
  samplers(): SamplerInfo[];
  /** An ES module whose default export is a JsSamplerPlugin; registered in every worker (also workers added later). */
  registerSampler(url: string | URL): Promise<void>;
  /** Downloads once (here), parses in every worker; replaces the previous model. */
  loadModel(src: ModelSource, opts?: LoadOptions): Promise<WorkerModel>;
  dispose(): void;
}

export type WorkerResult = Omit<SampleResult, 'png'> & { stats: RunStats };

export class WorkerModel {
  readonly config: ModelConfig;
  /** Threads each worker splits one image across (> 1 for models of 2 GFLOP or more on a cross-origin isolated
   *  page), and why it is 1 where the workers could use more (else null). */
  readonly threads: number;
  readonly threadsUnavailable: string | null;
  /** Model.schedule() and Model.qSample(), computed by the first worker (between two steps of a run in progress). */
  schedule(): Promise<Record<string, Float64Array>>;
  qSample(x0: Float32Array, t: number, opts?: { seed?: number; image?: number }): Promise<{ xt: Float32Array; eps: Float32Array }>;
  /** As Model.sample: every option, signal and onStep; the images equal one engine's bit for bit. (No png(): the
   *  encoder lives in the workers' engines; use an in-thread Engine in Node for PNG files.) */
  sample(opts: SampleOptions): Promise<WorkerResult>;
  /** As Model.steps; a step is reported when every worker has taken it. */
  steps(opts: SampleOptions): AsyncIterableIterator<StepInfo> & { result: Promise<WorkerResult> };
}

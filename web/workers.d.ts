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
  /** ddpm.wasm (URL, bytes, Response or a compiled Module); default: next to this file. Compiled once, shared. */
  wasm?: string | URL | ArrayBuffer | ArrayBufferView | Response | WebAssembly.Module;
  /** The worker script (default: the package's worker.js next to this file): for bundlers that move files. */
  workerUrl?: string | URL;
}

export function createWorkerEngine(opts?: WorkerEngineOptions): Promise<WorkerEngine>;

export class WorkerEngine {
  readonly workers: number;
  resize(n: number): Promise<void>;
  /** Every registered sampler, as Engine.samplers() (after loadModel). */
  samplers(): SamplerInfo[];
  /** An ES module whose default export is a JsSamplerPlugin; registered in every worker (also workers added later). */
  registerSampler(url: string | URL): Promise<void>;
  /** Downloads once (here), parses in every worker; replaces the previous model. */
  loadModel(src: ModelSource, opts?: LoadOptions): Promise<WorkerModel>;
  dispose(): void;
}

export type WorkerResult = Omit<SampleResult, 'png'>;

export class WorkerModel {
  readonly config: ModelConfig;
  /** As Model.sample: every option, signal and onStep; the images equal one engine's bit for bit. (No png(): the
   *  encoder lives in the workers' engines; use an in-thread Engine in Node for PNG files.) */
  sample(opts: SampleOptions): Promise<WorkerResult>;
  /** As Model.steps; a step is reported when every worker has taken it. */
  steps(opts: SampleOptions): AsyncIterableIterator<StepInfo> & { result: Promise<WorkerResult> };
}

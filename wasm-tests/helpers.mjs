// Shared by the Node tests: paths, one engine per test file, golden files, the native CLI, float comparisons.
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const path = (p) => join(ROOT, p);
export const SHIPPED = path('models/fmnist-cond.i8.safetensors');
export const SHIPPED_GOLDEN = path('tests/data/fmnist-cond.golden.safetensors');
export const NATIVE_CLI = process.env.DDPM_NATIVE_CLI || path('build/ddpm');
export const hasShipped = existsSync(SHIPPED);
export const hasNative = existsSync(NATIVE_CLI);
export const skipShipped = hasShipped ? false : `no shipped model at ${SHIPPED}`;
export const skipNative = hasNative ? false : `no native CLI at ${NATIVE_CLI} (build it: cmake -S . -B build && cmake --build build)`;

/** The tensors of a safetensors file, read independently of the engine: F32 as Float32Array; with anyDtype, also
 * F64 and I64 (diffusers' goldens), every tensor then as a Float64Array. */
export function readSafetensors(file, anyDtype = false) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (v.dtype !== 'F32' && !(anyDtype && (v.dtype === 'F64' || v.dtype === 'I64'))) throw new Error(`${file}: ${name} is ${v.dtype}`);
    const [b, e] = v.data_offsets;
    const bytes = buf.subarray(8 + n + b, 8 + n + e);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const data = v.dtype === 'F32' ? new Float32Array(ab) : v.dtype === 'F64' ? new Float64Array(ab) : Array.from(new BigInt64Array(ab), Number);
    out[name] = { shape: v.shape, data: anyDtype ? Float64Array.from(data) : data };
  }
  return out;
}

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN -> NaN -> fails every <= check
  }
  return m;
}

export const bitwiseEqual = (a, b) =>
  a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

export const sha256 = (typed) => createHash('sha256').update(Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength)).digest('hex');

/** Runs the native CLI in a temporary folder: files = { name: Float32Array } are written there first, args may
 * name them as '@name'; returns the float32 contents of `outName`. */
export function native(args, files = {}, outName = 'out.f32') {
  const dir = mkdtempSync(join(tmpdir(), 'ddpm-wasm-test-'));
  try {
    for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, k), Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    const resolved = args.map((a) => (a.startsWith('@') ? join(dir, a.slice(1)) : a));
    execFileSync(NATIVE_CLI, resolved, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const b = readFileSync(join(dir, outName));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function meanStd(a) {
  let s = 0, s2 = 0;
  for (const v of a) s += v;
  const mean = s / a.length;
  for (const v of a) s2 += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(s2 / a.length) };
}

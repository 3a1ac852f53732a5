// torch.randn on the CPU, in JS: the Mersenne Twister of torch.manual_seed(seed) and PyTorch's normal_fill (for
// tensors of 16 or more elements: uniforms u = (r & (2^24 - 1)) / 2^24 from successive 32-bit draws, then
// Box-Muller on each block of 16, u1 = 1 - u[j], u2 = u[j + 8], and the last 16 redrawn when 16 does not divide
// the size). Written from the algorithm's description to replay the noise of diffusers' scheduler tests; checked
// against torch itself (tests/data/torch_randn_seed0.json, made by training/torch_randn_golden.py). The float32
// transcendentals of torch are computed here in double and rounded, so values may differ in the last bit.

export class TorchGenerator {
  constructor(seed) {
    this.mt = new Uint32Array(624);
    this.mt[0] = Number(BigInt(seed) & 0xffffffffn);
    for (let i = 1; i < 624; i++) {
      const p = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, p) + i) >>> 0;
    }
    this.index = 624;
  }

  /** The next 32-bit draw (MT19937). */
  random() {
    const mt = this.mt;
    if (this.index >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
        mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** torch.randn(n) (n >= 16) as float32. */
  randn(n) {
    if (n < 16) throw new Error('randn: the scalar path (n < 16) is not reproduced');
    const f = Math.fround, data = new Float32Array(n);
    const uniform = () => f((this.random() & 0xffffff) / 16777216);
    const fill16 = (o) => {
      for (let j = 0; j < 8; j++) {
        const u1 = f(1 - data[o + j]), u2 = data[o + j + 8];
        const radius = f(Math.sqrt(f(-2 * f(Math.log(u1))))), theta = f(f(2 * Math.PI) * u2);
        data[o + j] = f(radius * f(Math.cos(theta)));
        data[o + j + 8] = f(radius * f(Math.sin(theta)));
      }
    };
    for (let i = 0; i < n; i++) data[i] = uniform();
    for (let i = 0; i + 16 <= n; i += 16) fill16(i);
    if (n % 16 !== 0) {
      for (let i = 0; i < 16; i++) data[n - 16 + i] = uniform();
      fill16(n - 16);
    }
    return data;
  }
}

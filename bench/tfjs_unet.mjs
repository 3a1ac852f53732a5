// The same U-Net (training/model.py) as a TensorFlow.js graph, NHWC, built from an F32 safetensors file.
// Ops as a tfjs developer would write them: fused conv2d + bias, matMul, moments-based GroupNorm, sigmoid SiLU.
import { readFileSync } from 'node:fs';

export function readSafetensors(path) {
  const buf = readFileSync(path);
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  const base = 8 + hlen, tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new Error(`${name}: ${info.dtype} (need F32)`);
    const [a, b] = info.data_offsets;
    const bytes = buf.subarray(base + a, base + b);
    const f = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(f.buffer).set(bytes);
    tensors[name] = { shape: info.shape, data: f };
  }
  return { tensors, meta: header.__metadata__ || {} };
}

export function buildTfjsUnet(tf, st) {
  const T = st.tensors, meta = st.meta;
  const C = +meta['ddpm.base_channels'], E = 4 * C, G = +meta['ddpm.groups'], S = +meta['ddpm.image_size'];
  const ncls = +meta['ddpm.num_classes'];
  const has = (n) => n in T;
  const raw = (n) => tf.tensor(T[n].data, T[n].shape);
  const convW = (n) => { // [cout, cin, k, k] -> [k, k, cin, cout]
    const w = raw(n);
    const r = tf.transpose(w, [2, 3, 1, 0]);
    w.dispose();
    return r;
  };
  const linW = (n) => { const w = raw(n); const r = tf.transpose(w); w.dispose(); return r; }; // [in, out]
  const conv = (p, stride = 1) => ({ w: convW(p + '.weight'), b: raw(p + '.bias'), stride, k: T[p + '.weight'].shape[2] });
  const norm = (p) => ({ g: raw(p + '.weight'), b: raw(p + '.bias') });
  const lin = (p) => ({ w: linW(p + '.weight'), b: raw(p + '.bias') });
  const res = (p) => ({ n1: norm(p + '.norm1'), c1: conv(p + '.conv1'), tp: lin(p + '.temb_proj'), n2: norm(p + '.norm2'),
    c2: conv(p + '.conv2'), skip: has(p + '.skip.weight') ? conv(p + '.skip') : null });
  const attn = (p) => ({ n: norm(p + '.norm'), qkv: conv(p + '.qkv'), proj: conv(p + '.proj') });
  const block = (p) => {
    if (has(p + '.conv.weight')) return { kind: p.startsWith('down') ? 'down' : 'up', conv: conv(p + '.conv', p.startsWith('down') ? 2 : 1) };
    if (has(p + '.res.conv1.weight')) return { kind: 'resattn', res: res(p + '.res'), attn: attn(p + '.attn') };
    return { kind: 'res', res: res(p) };
  };
  const W = { fc1: lin('time_embed.fc1'), fc2: lin('time_embed.fc2'), cls: has('class_embed.weight') ? raw('class_embed.weight') : null,
    conv_in: conv('conv_in'), down: [], up: [], mid1: res('mid.res1'), mida: attn('mid.attn'), mid2: res('mid.res2'),
    norm_out: norm('norm_out'), conv_out: conv('conv_out') };
  for (let i = 0; has(`down.${i}.conv.weight`) || has(`down.${i}.conv1.weight`) || has(`down.${i}.res.conv1.weight`); i++) W.down.push(block(`down.${i}`));
  for (let i = 0; has(`up.${i}.conv.weight`) || has(`up.${i}.conv1.weight`) || has(`up.${i}.res.conv1.weight`); i++) W.up.push(block(`up.${i}`));

  const c2d = (x, c) => tf.fused.conv2d({ x, filter: c.w, bias: c.b, strides: [c.stride, c.stride], pad: (c.k - 1) / 2 });
  const gn = (x, nm, silu) => {
    const [n, h, w, c] = x.shape;
    const xr = tf.reshape(x, [n, h * w, G, c / G]);
    const { mean, variance } = tf.moments(xr, [1, 3], true);
    let y = tf.reshape(tf.mul(tf.sub(xr, mean), tf.rsqrt(tf.add(variance, 1e-5))), [n, h, w, c]);
    y = tf.add(tf.mul(y, nm.g), nm.b);
    return silu ? tf.mul(y, tf.sigmoid(y)) : y;
  };
  const silu = (x) => tf.mul(x, tf.sigmoid(x));
  const linear = (x, l) => tf.fused.matMul({ a: x, b: l.w, bias: l.b });
  const resblock = (x, r, tembSilu) => {
    let h = c2d(gn(x, r.n1, true), r.c1);
    const tp = linear(tembSilu, r.tp);
    h = tf.add(h, tf.reshape(tp, [tp.shape[0], 1, 1, tp.shape[1]]));
    h = c2d(gn(h, r.n2, true), r.c2);
    return tf.add(r.skip ? c2d(x, r.skip) : x, h);
  };
  const attention = (x, a) => {
    const [n, h, w, c] = x.shape;
    const qkv = tf.reshape(c2d(gn(x, a.n, false), a.qkv), [n, h * w, 3 * c]);
    const [q, k, v] = tf.split(qkv, 3, 2);
    const s = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(c)));
    const o = tf.reshape(tf.matMul(s, v), [n, h, w, c]);
    return tf.add(x, c2d(o, a.proj));
  };
  const half = C / 2;
  const freqs = new Float32Array(half);
  for (let k = 0; k < half; k++) freqs[k] = Math.fround(Math.exp(Math.fround(Math.fround(-Math.log(10000) * k) / (half - 1))));

  // x: Float32Array [n, 1, S, S] (NCHW, like the others), t: Float32Array [n], y: Int32Array [n] -> Float32Array NCHW
  function forward(xNCHW, t, y, n) {
    const emb = new Float32Array(n * C);
    for (let i = 0; i < n; i++) for (let k = 0; k < half; k++) {
      const a = Math.fround(t[i] * freqs[k]);
      emb[i * C + k] = Math.sin(a); emb[i * C + half + k] = Math.cos(a);
    }
    return tf.tidy(() => {
      let temb = linear(silu(linear(tf.tensor(emb, [n, C]), W.fc1)), W.fc2);
      if (W.cls) temb = tf.add(temb, tf.gather(W.cls, tf.tensor(y, [n], 'int32')));
      const ts = silu(temb);
      const cin = xNCHW.length / (n * S * S);
      let h = c2d(tf.transpose(tf.tensor(xNCHW, [n, cin, S, S]), [0, 2, 3, 1]), W.conv_in);
      const hs = [h];
      for (const b of W.down) {
        if (b.kind === 'down') h = c2d(h, b.conv);
        else { h = resblock(h, b.res, ts); if (b.kind === 'resattn') h = attention(h, b.attn); }
        hs.push(h);
      }
      h = resblock(h, W.mid1, ts); h = attention(h, W.mida); h = resblock(h, W.mid2, ts);
      for (const b of W.up) {
        if (b.kind === 'up') h = c2d(tf.image.resizeNearestNeighbor(h, [2 * h.shape[1], 2 * h.shape[2]]), b.conv);
        else { h = resblock(tf.concat([h, hs.pop()], 3), b.res, ts); if (b.kind === 'resattn') h = attention(h, b.attn); }
      }
      const out = c2d(gn(h, W.norm_out, true), W.conv_out);
      return tf.transpose(out, [0, 3, 1, 2]);
    });
  }
  return { forward, C, S };
}

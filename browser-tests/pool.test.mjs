/** pool.test.mjs — how web/pool.js splits a batch over workers (plain Node, no browser). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitBatch, WorkerPool } from '../web/pool.js';

/** min(batch, workers) contiguous non-empty parts that start at 0 and cover the batch exactly. */
function assertCovers(parts, batch, workers) {
  assert.equal(parts.length, Math.min(batch, workers));
  let next = 0;
  for (const p of parts) {
    assert.equal(p.start, next);
    assert.ok(p.count >= 1);
    next += p.count;
  }
  assert.equal(next, batch);
}

test('splitBatch covers the batch with contiguous, balanced, non-empty parts', () => {
  for (let batch = 1; batch <= 64; batch++) {
    for (let workers = 1; workers <= 8; workers++) {
      const parts = splitBatch(batch, workers);
      assertCovers(parts, batch, workers);
      const counts = parts.map((p) => p.count);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
    }
  }
  assert.deepEqual(splitBatch(5, 2), [{ start: 0, count: 3 }, { start: 3, count: 2 }]);
  assert.throws(() => splitBatch(0, 1), RangeError);
  assert.throws(() => splitBatch(4, 0), RangeError);
});

test('splitBatch with measured speeds: proportional shares, worked by hand', () => {
  // 16 images, speeds 3:1 -> 1 + 1 each, the other 14 as 10.5 : 3.5 -> 10 : 3, the leftover to the larger remainder
  // (tie 0.5 / 0.5 -> the earlier part): 12 + 4.
  assert.deepEqual(splitBatch(16, 2, [3, 1]).map((p) => p.count), [12, 4]);
  // 16 images, speeds 1 : 0.6 (a core at 60 %): 14 * 0.625 = 8.75 -> 1 + 8 + 1 (remainder .75 vs .25) = 10, and 6.
  assert.deepEqual(splitBatch(16, 2, [1, 0.6]), [{ start: 0, count: 10 }, { start: 10, count: 6 }]);
  // 10 images over 3 workers 1 : 2 : 2: rest 7 -> 1.4, 2.8, 2.8 -> floors 1, 2, 2 (+1 each), 2 left to .8, .8.
  assert.deepEqual(splitBatch(10, 3, [1, 2, 2]).map((p) => p.count), [2, 4, 4]);
  // Equal speeds give exactly the even split; a very slow worker still gets one image.
  for (let batch = 1; batch <= 40; batch++)
    for (let w = 1; w <= 8; w++)
      assert.deepEqual(splitBatch(batch, w, new Array(w).fill(2.5)), splitBatch(batch, w));
  assert.deepEqual(splitBatch(8, 2, [1000, 1]).map((p) => p.count), [7, 1]);
});

test('splitBatch with speeds still covers the batch; unusable speeds fall back to the even split', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let k = 0; k < 2000; k++) {
    const batch = 1 + Math.floor(rnd() * 64), workers = 1 + Math.floor(rnd() * 8);
    const speeds = Array.from({ length: workers }, () => 0.05 + rnd() * 4);
    const parts = splitBatch(batch, workers, speeds);
    assertCovers(parts, batch, workers);
    // no part is more than one image away from its exact proportional share of the batch beyond the 1 each
    const w = parts.length, tot = speeds.slice(0, w).reduce((a, b) => a + b, 0);
    parts.forEach((p, j) => assert.ok(Math.abs(p.count - 1 - ((batch - w) * speeds[j]) / tot) < 1 + 1e-9));
  }
  for (const bad of [[1, 0], [1, -2], [1, NaN], [1, Infinity], [1]])
    assert.deepEqual(splitBatch(9, 2, bad), splitBatch(9, 2));
});

// A stand-in for worker.js that speaks its protocol: image k of a run is filled with the byte firstImage + k, and a
// run of n images x s steps reports n * s * msPerImageStep ms (its speed), after a short real delay.
class FakeWorker {
  static speeds = [];
  static made = 0;
  constructor() {
    this.msPerImageStep = FakeWorker.speeds[FakeWorker.made++] ?? 1;
    this.onmessage = null;
    this.runs = [];
  }
  postMessage(msg) {
    const reply = (data) => setTimeout(() => this.onmessage && this.onmessage({ data }), 1);
    if (msg.type === 'init') reply({ type: 'ready', version: 'fake', config: { inChannels: 1, imageSize: 2 }, samplers: [] });
    if (msg.type === 'run') {
      const { batch, firstImage, steps } = msg.opts;
      this.runs.push(batch);
      const bytes = new Uint8Array(batch * 4);
      for (let k = 0; k < batch; k++) bytes.fill(firstImage + k, 4 * k, 4 * k + 4);
      reply({ type: 'done', id: msg.id, bytes, lastStep: steps, ms: batch * steps * this.msPerImageStep });
    }
  }
  terminate() {}
}

test('the pool gives a slower worker fewer images from the second run on, and assembles the same batch', async () => {
  globalThis.Worker = FakeWorker;
  try {
    FakeWorker.speeds = [1, 3]; // the second worker takes 3x as long per image-step
    FakeWorker.made = 0;
    const pool = new WorkerPool('fake.js', 2);
    await pool.load(null, new ArrayBuffer(8));
    const expect = Uint8Array.from({ length: 16 * 4 }, (_, i) => 100 + (i >> 2));
    const r1 = await pool.run({ batch: 16, steps: 10, firstImage: 100 });
    assert.deepEqual(r1.split, [8, 8]);  // nothing measured yet: even
    assert.deepEqual(r1.bytes, expect);
    const r2 = await pool.run({ batch: 16, steps: 10, firstImage: 100 });
    assert.deepEqual(r2.split, [12, 4]); // speeds 1 : 1/3 -> 3 : 1 (worked in the splitBatch test)
    assert.deepEqual(r2.bytes, expect);
    assert.deepEqual(pool.workers.map((s) => s.worker.runs), [[8, 12], [8, 4]]);
    await pool.load(null, new ArrayBuffer(8)); // another model: measured again from an even split
    assert.deepEqual((await pool.run({ batch: 6, steps: 2 })).split, [3, 3]);
    pool.terminate();
  } finally {
    delete globalThis.Worker;
  }
});

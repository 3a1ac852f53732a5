/** pool.test.mjs — how web/pool.js splits a batch over workers (plain Node, no browser). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitBatch } from '../web/pool.js';

test('splitBatch covers the batch with contiguous, balanced, non-empty parts', () => {
  for (let batch = 1; batch <= 64; batch++) {
    for (let workers = 1; workers <= 8; workers++) {
      const parts = splitBatch(batch, workers);
      assert.equal(parts.length, Math.min(batch, workers));
      let next = 0;
      for (const p of parts) {
        assert.equal(p.start, next);
        assert.ok(p.count >= 1);
        next += p.count;
      }
      assert.equal(next, batch);
      const counts = parts.map((p) => p.count);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
    }
  }
  assert.deepEqual(splitBatch(5, 2), [{ start: 0, count: 3 }, { start: 3, count: 2 }]);
  assert.throws(() => splitBatch(0, 1), RangeError);
  assert.throws(() => splitBatch(4, 0), RangeError);
});

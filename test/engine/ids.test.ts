import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdGenerator, idFloor, idTimeMs } from '../../src/engine/ids.ts';

test('an id gives back the millisecond it was stamped with, and idFloor splits ids at a millisecond', () => {
  const ids = new IdGenerator();
  const t = Date.UTC(2026, 10, 26, 12, 0, 0, 123);
  const before = ids.next('cpn', t - 1);
  const at = ids.next('cpn', t);
  const again = ids.next('cpn', t);
  const after = ids.next('cpn', t + 60_000);
  assert.deepEqual([before, at, again, after].map(idTimeMs), [t - 1, t, t, t + 60_000]);
  const floor = idFloor('cpn', t);
  // Byte-wise, as both stores compare ids: stamped before t sorts under the floor, at or after t above it.
  assert.ok(before < floor && floor < at && floor < again && floor < after);
  assert.equal(idTimeMs(floor), t);
});

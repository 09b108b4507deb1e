import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvariantViolation, Rejection } from './errors.ts';

test('a Rejection carries its code, param and retry hint, and no stack frames', () => {
  const r = new Rejection('rate_limited', 'slow down', 'code', 3);
  assert.ok(r instanceof Error);
  assert.deepEqual(
    [r.name, r.code, r.message, r.param, r.retry_after_s],
    ['Rejection', 'rate_limited', 'slow down', 'code', 3],
  );
  assert.doesNotMatch(r.stack ?? '', /\n\s+at /);
  const bare = new Rejection('not_found', 'no such thing');
  assert.equal(bare.param, undefined);
  assert.equal(bare.retry_after_s, undefined);
});

test('making a Rejection leaves stack traces on for everything else', () => {
  const before = Error.stackTraceLimit;
  new Rejection('invalid_request', 'bad');
  assert.equal(Error.stackTraceLimit, before);
  assert.match(new InvariantViolation('spent > budget').stack ?? '', /\n\s+at /);
});

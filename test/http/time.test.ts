import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import { formatTimestamp, parseTimestampMs } from '../../src/http/time.ts';

function refusal(text: string): string | null {
  try {
    parseTimestampMs(text, 'at');
    return null;
  } catch (err) {
    assert.ok(err instanceof Rejection);
    assert.equal(err.param, 'at');
    return err.message;
  }
}

test('every year RFC 3339 writes parses and formats back as written, years 0000-0099 included', () => {
  for (const text of ['0000-01-01T00:00:00Z', '0050-03-01T12:30:00Z', '0004-02-29T00:00:00Z', '2024-02-29T10:00:00Z']) {
    assert.equal(formatTimestamp(parseTimestampMs(text, 'at')), text);
  }
});

test('impossible dates and times are refused, in every century', () => {
  for (const text of ['2023-02-29T10:00:00Z', '0001-02-29T00:00:00Z', '0099-04-31T00:00:00Z', '2026-01-01T24:00:00Z']) {
    assert.notEqual(refusal(text), null, text);
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { LatencyHistogram } from '../../src/http/latency-histogram.ts';

const buckets_s = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const name = 'vouchsafe_http_request_duration_seconds';
const help = 'HTTP request latency by route and status';

const observation = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE'),
  route: fc.constantFrom('/v1/redemptions', '/v1/campaigns/:id', 'unmatched', 'a "quoted"\\route\nwith a newline'),
  status_code: fc.constantFrom(200, 201, 401, 422, 503),
  // Exactly on a bound, between bounds, and above the last one.
  seconds: fc.oneof(fc.constantFrom(...buckets_s, 0, 7.5), fc.double({ min: 0, max: 10, noNaN: true })),
});

test('LatencyHistogram renders exactly what a prom-client Histogram renders for the same observations', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(observation, { maxLength: 200 }), async (observations) => {
      const registry = new Registry();
      const reference = new Histogram({
        name,
        help,
        labelNames: ['method', 'route', 'status_code'],
        buckets: buckets_s,
        registers: [registry],
      });
      const ours = new LatencyHistogram(name, help, buckets_s);
      for (const o of observations) {
        reference.observe({ method: o.method, route: o.route, status_code: String(o.status_code) }, o.seconds);
        ours.observe(o.method, o.route, o.status_code, o.seconds);
      }
      assert.equal(`${ours.text()}\n`, await registry.metrics());
    }),
    { numRuns: 200 },
  );
});

test('LatencyHistogram keeps at most series_max label sets and ignores non-finite durations', () => {
  const h = new LatencyHistogram(name, help, buckets_s, 2);
  h.observe('GET', '/a', 200, 0.01);
  h.observe('GET', '/b', 200, 0.01);
  h.observe('GET', '/c', 200, 0.01);
  h.observe('GET', '/a', 200, Number.NaN);
  const text = h.text();
  assert.match(text, /_count\{method="GET",route="\/a",status_code="200"\} 1$/m);
  assert.match(text, /_count\{method="GET",route="\/b",status_code="200"\} 1$/m);
  assert.ok(!text.includes('route="/c"'), 'a third label set is left out');
});

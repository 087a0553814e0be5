import { describe, expect, it } from 'vitest';

import {
  cumulativeStats,
  formatRate,
  formatRatio,
  formatSeconds,
  histogramQuantile,
  parsePrometheus,
  requestTotals,
  windowStats,
} from './prom';

// An excerpt of blueprint-api's /metrics, as served.
const EXPOSITION = `# HELP http_request_duration_seconds Seconds spent serving HTTP requests.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="GET",path="/api/info",status="200",le="0.005"} 8
http_request_duration_seconds_bucket{method="GET",path="/api/info",status="200",le="0.01"} 9
http_request_duration_seconds_bucket{method="GET",path="/api/info",status="200",le="0.1"} 10
http_request_duration_seconds_bucket{method="GET",path="/api/info",status="200",le="+Inf"} 10
http_request_duration_seconds_sum{method="GET",path="/api/info",status="200"} 0.031
http_request_duration_seconds_count{method="GET",path="/api/info",status="200"} 10
http_request_duration_seconds_bucket{method="GET",path="/status/{code}",status="503",le="0.005"} 2
http_request_duration_seconds_bucket{method="GET",path="/status/{code}",status="503",le="0.01"} 2
http_request_duration_seconds_bucket{method="GET",path="/status/{code}",status="503",le="0.1"} 2
http_request_duration_seconds_bucket{method="GET",path="/status/{code}",status="503",le="+Inf"} 2
http_request_duration_seconds_sum{method="GET",path="/status/{code}",status="503"} 0.002
http_request_duration_seconds_count{method="GET",path="/status/{code}",status="503"} 2
http_request_duration_seconds_bucket{method="GET",path="/metrics",status="200",le="0.005"} 100
http_request_duration_seconds_bucket{method="GET",path="/metrics",status="200",le="0.01"} 100
http_request_duration_seconds_bucket{method="GET",path="/metrics",status="200",le="0.1"} 100
http_request_duration_seconds_bucket{method="GET",path="/metrics",status="200",le="+Inf"} 100
http_request_duration_seconds_count{method="GET",path="/metrics",status="200"} 100
# HELP http_requests_total Requests answered.
# TYPE http_requests_total counter
http_requests_total{status="200"} 110
http_requests_total{status="503"} 2
blueprint_build_info{version="0.1.0",revision="unknown"} 1
blueprint_queue_depth 0
`;

describe('parsePrometheus', () => {
  it('reads samples, labels and values, skipping comments and blank lines', () => {
    const samples = parsePrometheus(EXPOSITION);
    expect(samples).toHaveLength(21);
    expect(samples[0]).toEqual({
      name: 'http_request_duration_seconds_bucket',
      labels: { method: 'GET', path: '/api/info', status: '200', le: '0.005' },
      value: 8,
    });
    expect(samples.at(-1)).toEqual({ name: 'blueprint_queue_depth', labels: {}, value: 0 });
  });

  it('unescapes label values and understands special values, timestamps and exemplars', () => {
    const samples = parsePrometheus(
      [
        'a{msg="say \\"hi\\"\\\\ \\nthere", x="{,}"} 1.5e3 1700000000000',
        'b +Inf',
        'c{} -Inf',
        'd NaN',
        'e_total{status="500"} 3 # {trace_id="abc"} 0.2 1700000000.1',
        '   ',
      ].join('\n'),
    );
    expect(samples[0]).toEqual({ name: 'a', labels: { msg: 'say "hi"\\ \nthere', x: '{,}' }, value: 1500 });
    expect(samples[1]!.value).toBe(Infinity);
    expect(samples[2]!.value).toBe(-Infinity);
    expect(samples[3]!.value).toBeNaN();
    expect(samples[4]).toEqual({ name: 'e_total', labels: { status: '500' }, value: 3 });
  });

  it('names the line of a malformed sample', () => {
    expect(() => parsePrometheus('# ok\ngood 1\nbad{x="1" 2')).toThrow(/line 3/);
    expect(() => parsePrometheus('novalue')).toThrow(/line 1: no value/);
    expect(() => parsePrometheus('x{y=1} 2')).toThrow(/not quoted/);
    expect(() => parsePrometheus('x abc')).toThrow(/not a number/);
  });
});

describe('histogramQuantile', () => {
  const b = (pairs: Array<[number, number]>) => pairs.map(([le, count]) => ({ le, count }));

  it('interpolates inside the bucket holding the rank, like PromQL', () => {
    const buckets = b([
      [0.1, 10],
      [0.5, 20],
      [1, 20],
      [Infinity, 20],
    ]);
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(0.1 + 0.4 * (19.8 - 10) / 10);
    expect(histogramQuantile(0.25, buckets)).toBeCloseTo(0.05);
  });

  it('answers the largest finite bound for a rank in +Inf, and null without data', () => {
    expect(histogramQuantile(0.99, b([[0.1, 5], [Infinity, 10]]))).toBe(0.1);
    expect(histogramQuantile(0.99, b([[0.1, 0], [Infinity, 0]]))).toBeNull();
    expect(histogramQuantile(0.99, b([[0.1, 3]]))).toBeNull();
    expect(histogramQuantile(0.99, [])).toBeNull();
  });

  it('does not care about the order of the buckets', () => {
    expect(histogramQuantile(0.5, b([[Infinity, 4], [1, 4], [0.5, 2]]))).toBeCloseTo(0.5);
  });
});

describe('request figures', () => {
  const samples = parsePrometheus(EXPOSITION);

  it('sums counts, 5xx and buckets over every series, leaving out excluded paths', () => {
    const all = requestTotals(samples, 0);
    expect(all.requests).toBe(112);
    expect(all.errors).toBe(2);
    const t = requestTotals(samples, 0, { excludePaths: ['/metrics'] });
    expect(t.requests).toBe(12);
    expect(t.errors).toBe(2);
    expect(t.buckets).toEqual([
      { le: 0.005, count: 10 },
      { le: 0.01, count: 11 },
      { le: 0.1, count: 12 },
      { le: Infinity, count: 12 },
    ]);
    expect(t.routes.get('GET /status/{code}')).toEqual({ method: 'GET', path: '/status/{code}', requests: 2, errors: 2 });
  });

  it('computes rate, error ratio and p99 between two scrapes', () => {
    const prev = requestTotals(samples, 10_000, { excludePaths: ['/metrics'] });
    const later = parsePrometheus(
      EXPOSITION.replace(/status="503",le="[^"]+"} 2/g, (m) => m.replace(/} 2$/, '} 12')).replace(
        'http_request_duration_seconds_count{method="GET",path="/status/{code}",status="503"} 2',
        'http_request_duration_seconds_count{method="GET",path="/status/{code}",status="503"} 12',
      ),
    );
    const cur = requestTotals(later, 15_000, { excludePaths: ['/metrics'] });
    const w = windowStats(prev, cur);
    expect(w.seconds).toBe(5);
    expect(w.requests).toBe(10);
    expect(w.rate).toBe(2);
    expect(w.errorRatio).toBe(1);
    // All ten new requests are in the first bucket (≤ 5 ms): p99 = 0.99 · 5 ms.
    expect(w.p99).toBeCloseTo(0.00495);
  });

  it('answers null figures for a window without requests, and counts from zero after a restart', () => {
    const t = requestTotals(samples, 1_000);
    const same = windowStats(t, { ...t, at: 4_000 });
    expect(same.rate).toBe(0);
    expect(same.errorRatio).toBeNull();
    expect(same.p99).toBeNull();

    const restarted = requestTotals(parsePrometheus('http_request_duration_seconds_count{path="/",status="200"} 3'), 4_000);
    expect(windowStats(t, restarted).requests).toBe(3);
  });

  it('has cumulative figures since the start', () => {
    const c = cumulativeStats(requestTotals(samples, 0, { excludePaths: ['/metrics'] }));
    expect(c.requests).toBe(12);
    expect(c.errorRatio).toBeCloseTo(2 / 12);
    expect(c.p99).toBeGreaterThan(0.01);
    expect(c.p99).toBeLessThanOrEqual(0.1);
  });
});

describe('formatting', () => {
  it('formats figures and gaps', () => {
    expect(formatRate(null)).toBe('—');
    expect(formatRate(2)).toBe('2.00 req/s');
    expect(formatRate(12.345)).toBe('12.3 req/s');
    expect(formatRatio(0.5)).toBe('50.0 %');
    expect(formatRatio(0.0012)).toBe('0.12 %');
    expect(formatRatio(null)).toBe('—');
    expect(formatSeconds(0.00495)).toBe('4.95 ms');
    expect(formatSeconds(0.25)).toBe('250.0 ms');
    expect(formatSeconds(1.5)).toBe('1.50 s');
    expect(formatSeconds(null)).toBe('—');
  });
});

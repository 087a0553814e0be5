import { describe, expect, it, vi } from 'vitest';

import { INFO, json, testApi, text } from '../test/helpers';
import { ApiError, apiUrl, createApi, errorFromException, errorFromStatus } from './client';

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected a rejection');
}

describe('the api client', () => {
  it('returns typed bodies from same-origin root paths', async () => {
    const { api, calls } = testApi({ 'GET /api/info': () => json(INFO) });
    const info = await api.info();
    const version: string = info.version;
    expect(version).toBe('1.2.3');
    expect(calls[0]!.url).toBe('http://ui.test/api/info');
  });

  it('puts apiBase in front of every path (nginx: /api)', async () => {
    const { api, calls } = testApi({ 'GET /api/api/info': () => json(INFO), 'GET /api/readyz': () => json({ status: 'OK' }) }, '/api/');
    await api.info();
    await api.readyz();
    expect(calls.map((c) => c.url)).toEqual(['http://ui.test/api/api/info', 'http://ui.test/api/readyz']);
    expect(api.urls.swagger).toBe('/api/swagger/');
  });

  it('maps a request that gets no answer to "network"', async () => {
    const api = createApi({
      apiBase: '',
      origin: 'http://ui.test',
      fetch: () => Promise.reject(new TypeError('Failed to fetch')),
    });
    const err = await rejection(api.info());
    expect(err.kind).toBe('network');
    expect(err.title).toBe('API unreachable');
    expect(err.message).toMatch(/Cannot reach the API: GET \/api\/info failed before any answer \(Failed to fetch\)/);
    expect(err.status).toBeUndefined();
    expect(err.apiDown).toBe(true);
  });

  it('maps the api\'s 503 to "unavailable", with its message', async () => {
    const { api } = testApi({ 'POST /jobs': () => json({ code: 503, message: 'queue full' }, 503) });
    const err = await rejection(api.enqueue('sleep', { duration_ms: 1 }));
    expect(err.kind).toBe('unavailable');
    expect(err.status).toBe(503);
    expect(err.message).toBe('POST /jobs answered 503 Service Unavailable: queue full');
    expect(err.apiDown).toBe(false);
  });

  it('maps a proxy\'s 502/504 (the api behind it is down) to "unavailable" and api down', async () => {
    const { api } = testApi({ 'GET /api/info': () => text('<html>502 Bad Gateway</html>', 502, 'text/html') });
    const err = await rejection(api.info());
    expect(err.kind).toBe('unavailable');
    expect(err.status).toBe(502);
    expect(err.message).toMatch(/from the proxy: the api behind it is down/);
    expect(err.apiDown).toBe(true);
  });

  it('maps no answer within the time limit to "timeout"', async () => {
    const api = createApi({
      apiBase: '',
      origin: 'http://ui.test',
      timeoutMs: 30,
      fetch: (input) =>
        new Promise((_, reject) => {
          (input as Request).signal.addEventListener('abort', () =>
            reject(new DOMException('The operation was aborted.', 'AbortError')),
          );
        }),
    });
    const t = performance.now();
    const err = await rejection(api.info());
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('GET /api/info got no answer within 30 ms');
    expect(performance.now() - t).toBeLessThan(1_000);
  });

  it('maps other statuses to "http", with the api\'s message', async () => {
    const { api } = testApi({
      'POST /jobs': () => json({ code: 422, message: 'sleep: duration_ms: at most 60000 ms' }, 422),
      'GET /api/info': () => json({ code: 500, message: 'fault injection is enabled' }, 500),
    });
    const bad = await rejection(api.enqueue('sleep', { duration_ms: 1e9 }));
    expect(bad.kind).toBe('http');
    expect(bad.status).toBe(422);
    expect(bad.message).toBe('POST /jobs answered 422: sleep: duration_ms: at most 60000 ms');
    const fault = await rejection(api.info());
    expect([fault.kind, fault.status, fault.title]).toEqual(['http', 500, 'Request failed']);
  });

  it('maps a 200 that is not the expected JSON (an HTML fallback page) to "invalid"', async () => {
    const { api } = testApi({ 'GET /api/info': () => text('<!doctype html><p>app</p>', 200, 'text/html') });
    const err = await rejection(api.info());
    expect(err.kind).toBe('invalid');
  });

  it('treats the api\'s own 503 from /readyz as a state, anything else as an error', async () => {
    const { api } = testApi({
      'GET /readyz': () => json({ code: 503, message: 'not ready' }, 503),
      'GET /healthz': () => text('bad gateway', 502),
    });
    expect(await api.readyz()).toEqual({ ok: false, status: 503, message: 'not ready' });
    expect((await rejection(api.healthz())).kind).toBe('unavailable');
  });

  it('answers any status of the chaos routes as a result with a latency', async () => {
    const { api } = testApi({
      'GET /status/503': () => json({ code: 503, message: 'status 503' }, 503),
      'GET /delay/2': () => json({ delay: 2 }),
    });
    const r = await api.status(503);
    expect(r).toMatchObject({ request: 'GET /status/503', status: 503, message: 'status 503' });
    expect(r.ms).toBeGreaterThanOrEqual(0);
    expect(await api.delay(2)).toMatchObject({ status: 200 });
  });

  it('stores text as an octet-stream body', async () => {
    const { api, calls, fetch } = testApi({ 'PUT /store': () => json({ hash: 'ab'.repeat(32) }, 202) });
    expect(await api.store('hello')).toEqual({ hash: 'ab'.repeat(32) });
    expect(calls[0]!.body).toBe('hello');
    const req = vi.mocked(fetch).mock.calls[0]![0] as Request;
    expect(req.headers.get('content-type')).toBe('application/octet-stream');
  });

  it('sends the job list query and the retry', async () => {
    const { api, calls } = testApi({
      'GET /jobs': () => json({ jobs: [], next_cursor: null }),
      'POST /jobs/abc/retry': () => json({ id: 'abc', status: 'queued' }, 202),
    });
    await api.jobs('dead', 10);
    await api.retry('abc');
    expect(calls[0]!.url).toBe('http://ui.test/jobs?state=dead&limit=10');
    expect(calls[1]!.method).toBe('POST');
  });

  it('reads /metrics as text', async () => {
    const { api } = testApi({ 'GET /metrics': () => text('up 1\n') });
    expect(await api.metrics()).toBe('up 1\n');
  });

  it('tells whether the api answered', async () => {
    const seen: Array<string | null> = [];
    const ok = createApi({
      apiBase: '',
      origin: 'http://ui.test',
      fetch: async () => json({ code: 404, message: 'no' }, 404),
      onReachability: (e) => seen.push(e?.kind ?? null),
    });
    await ok.info().catch(() => {});
    const down = createApi({
      apiBase: '',
      origin: 'http://ui.test',
      fetch: () => Promise.reject(new TypeError('Failed to fetch')),
      onReachability: (e) => seen.push(e?.kind ?? null),
    });
    await down.info().catch(() => {});
    expect(seen).toEqual([null, 'network']);
  });
});

describe('error mapping', () => {
  it('classifies statuses', () => {
    expect(errorFromStatus('GET /x', 503, null).kind).toBe('unavailable');
    expect(errorFromStatus('GET /x', 504, null).kind).toBe('unavailable');
    expect(errorFromStatus('GET /x', 502, { code: 502, message: 'blueprint-api is not reachable' }).message).toBe(
      'GET /x answered 502 from the proxy: blueprint-api is not reachable',
    );
    expect(errorFromStatus('GET /x', 404, { code: 404, message: 'nope' }).message).toBe('GET /x answered 404: nope');
    expect(errorFromStatus('GET /x', 400, 'plain text').message).toBe('GET /x answered 400');
  });

  it('classifies exceptions', () => {
    expect(errorFromException('GET /x', new DOMException('aborted', 'AbortError'), true, 5_000).message).toBe(
      'GET /x got no answer within 5 s',
    );
    expect(errorFromException('GET /x', new SyntaxError('Unexpected token <'), false, 5_000).kind).toBe('invalid');
    expect(errorFromException('GET /x', new TypeError('Failed to fetch'), false, 5_000).kind).toBe('network');
  });

  it('joins bases and paths', () => {
    expect(apiUrl('', '/swagger/')).toBe('/swagger/');
    expect(apiUrl('/api/', '/swagger/')).toBe('/api/swagger/');
  });
});

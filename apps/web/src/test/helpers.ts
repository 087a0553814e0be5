import { mount } from '@vue/test-utils';
import { vi } from 'vitest';
import type { Component } from 'vue';

import { createApi } from '../api/client';
import { ApiKey } from '../composables/useApi';

export type Handler = (req: Request) => Response | Promise<Response>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

export function text(body: string, status = 200, contentType = 'text/plain'): Response {
  return new Response(body, { status, headers: { 'Content-Type': contentType } });
}

/**
 * A fetch answering `METHOD /path` (query ignored) from `routes`; anything else is a 404 with
 * the api's error body. Each call is recorded (`calls`).
 */
export function mockFetch(routes: Record<string, Handler>) {
  const calls: Array<{ method: string; path: string; url: string; body: string | null }> = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url);
    const body = req.method === 'GET' ? null : await req.clone().text();
    calls.push({ method: req.method, path: url.pathname, url: req.url, body });
    const handler = routes[`${req.method} ${url.pathname}`];
    if (!handler) return json({ code: 404, message: `no route ${req.method} ${url.pathname}` }, 404);
    return handler(req);
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}

export function testApi(routes: Record<string, Handler>, apiBase = '') {
  const mocked = mockFetch(routes);
  const api = createApi({ apiBase, origin: 'http://ui.test', fetch: mocked.fetch, timeoutMs: 200 });
  return { api, ...mocked };
}

export function mountWith(component: Component, api: ReturnType<typeof createApi>) {
  return mount(component, { global: { provide: { [ApiKey as symbol]: api } } });
}

export const INFO = {
  hostname: 'pod-1',
  version: '1.2.3',
  revision: 'abc1234',
  color: '#34577c',
  logo: '',
  message: 'greetings from blueprint-api',
  runtime: 'rustc 1.95.0',
  os: 'linux',
  arch: 'x86_64',
  num_cpu: '2',
  uptime_seconds: 3725,
};

export function job(overrides: Record<string, unknown> = {}) {
  return {
    id: '01a21723-b9aa-73c6-8571-0a142458d3c2',
    kind: 'sleep',
    payload: { duration_ms: 500 },
    status: 'succeeded',
    attempts: 1,
    max_attempts: 5,
    last_error: null,
    result: { slept_ms: 500 },
    idempotency_key: null,
    traceparent: null,
    enqueued_at_ms: 1_700_000_000_000,
    started_at_ms: 1_700_000_000_010,
    finished_at_ms: 1_700_000_000_510,
    ...overrides,
  };
}

// The typed client of blueprint-api.
//
// Every call goes through openapi-fetch with the `paths` generated from the api's OpenAPI
// snapshot (src/api/schema.d.ts), so a change of the api's contract breaks `npm run typecheck`.
// Each request has a time limit (AbortController) and every failure becomes an `ApiError` of one
// of a few kinds the views know how to show.

import createClient from 'openapi-fetch';

import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Info = Schemas['Info'];
export type Version = Schemas['Version'];
export type JobRecord = Schemas['JobRecord'];
export type JobStatus = Schemas['JobStatus'];
export type JobPage = Schemas['Page'];
export type EnqueueResponse = Schemas['EnqueueResponse'];
export type ErrorBody = Schemas['ErrorBody'];

export const JOB_STATES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'dead'];

/** Default time limit of one request. */
export const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * - `network`: no answer at all (api down, connection refused, DNS, offline, CORS)
 * - `unavailable`: 503 from the api, or 502/504 from a proxy whose upstream (the api) is down
 * - `timeout`: no complete answer within the time limit
 * - `http`: any other unexpected status (4xx, 500, …)
 * - `invalid`: a 2xx whose body is not what the contract says (e.g. an HTML page from a
 *   misconfigured proxy)
 */
export type ApiErrorKind = 'network' | 'unavailable' | 'timeout' | 'http' | 'invalid';

const TITLES: Record<ApiErrorKind, string> = {
  network: 'API unreachable',
  unavailable: 'API unavailable',
  timeout: 'API timed out',
  http: 'Request failed',
  invalid: 'Unexpected answer from the API',
};

export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    /** `METHOD /path` of the request. */
    readonly request: string,
    /** HTTP status, when there was an answer. */
    readonly status?: number,
  ) {
    super(message);
  }

  /** A short headline for banners. */
  get title(): string {
    return TITLES[this.kind];
  }

  /** Whether the API itself looks down (as opposed to refusing one request). */
  get apiDown(): boolean {
    return (
      this.kind === 'network' ||
      this.kind === 'timeout' ||
      (this.kind === 'unavailable' && this.status !== 503)
    );
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as ErrorBody).code === 'number' &&
    typeof (body as ErrorBody).message === 'string'
  );
}

/** The `ApiError` for an answer with an unexpected `status` and (parsed) `body`. */
export function errorFromStatus(request: string, status: number, body: unknown): ApiError {
  const detail = isErrorBody(body) ? `: ${body.message}` : '';
  if (status === 503) {
    return new ApiError('unavailable', `${request} answered 503 Service Unavailable${detail}`, request, status);
  }
  if (status === 502 || status === 504) {
    const why = detail || ': the api behind it is down or not answering';
    return new ApiError('unavailable', `${request} answered ${status} from the proxy${why}`, request, status);
  }
  return new ApiError('http', `${request} answered ${status}${detail}`, request, status);
}

/** The `ApiError` for a request that threw (no answer, aborted, unparsable body). */
export function errorFromException(request: string, err: unknown, timedOut: boolean, timeoutMs: number): ApiError {
  if (err instanceof ApiError) return err;
  if (timedOut) {
    return new ApiError('timeout', `${request} got no answer within ${formatLimit(timeoutMs)}`, request);
  }
  if (err instanceof SyntaxError) {
    return new ApiError('invalid', `${request} answered with a body that is not the expected JSON`, request);
  }
  const why = err instanceof Error && err.message ? ` (${err.message})` : '';
  return new ApiError(
    'network',
    `Cannot reach the API: ${request} failed before any answer${why}. Is blueprint-api running?`,
    request,
  );
}

function formatLimit(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** What openapi-fetch resolves to, loosely. */
interface Answer<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

/** A finished exchange: the api answered something. */
export interface Exchange<D> {
  status: number;
  ok: boolean;
  data: D | undefined;
  error: unknown;
  /** Milliseconds from sending to the end of the body. */
  ms: number;
}

export interface ApiOptions {
  /** From /config.json: '' (same origin, root paths) or a prefix such as '/api'. */
  apiBase: string;
  /** Origin the base is resolved against [default: location.origin]. */
  origin?: string;
  /** fetch to use [default: globalThis.fetch]; tests pass a mock. */
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
  /** Told after every exchange: `null` when the api answered, the error when it looks down. */
  onReachability?: (error: ApiError | null) => void;
}

export type ProbeState = { ok: true; status: 200 } | { ok: false; status: number; message: string };

export interface ChaosResult {
  request: string;
  status: number;
  ms: number;
  message?: string;
}

export type Api = ReturnType<typeof createApi>;

/** `apiBase` joined to `path`, for links (Swagger UI, OpenAPI). */
export function apiUrl(apiBase: string, path: string): string {
  return `${apiBase.replace(/\/+$/, '')}${path}`;
}

export function createApi(options: ApiOptions) {
  const apiBase = options.apiBase.replace(/\/+$/, '');
  const origin = options.origin ?? globalThis.location?.origin ?? 'http://localhost';
  const baseUrl = new URL(apiBase || '/', origin).href.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const fetchImpl = options.fetch ?? ((input: Request) => globalThis.fetch(input));
  const client = createClient<paths>({ baseUrl, fetch: (req: Request) => fetchImpl(req) });

  /** Run one request with a time limit; throw only when there is no usable answer. */
  async function exchange<D>(
    request: string,
    send: (signal: AbortSignal) => Promise<Answer<D>>,
    limitMs = timeoutMs,
  ): Promise<Exchange<D>> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, limitMs);
    const started = performance.now();
    try {
      const answer = await send(controller.signal);
      const ms = performance.now() - started;
      const { status, ok } = answer.response;
      const result = { status, ok, data: answer.data, error: answer.error, ms };
      const proxyDown = status === 502 || status === 504;
      options.onReachability?.(proxyDown ? errorFromStatus(request, status, answer.error) : null);
      return result;
    } catch (err) {
      const error = errorFromException(request, err, timedOut, limitMs);
      options.onReachability?.(error.apiDown ? error : null);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Like `exchange`, but any status other than 2xx is an error; returns the body. */
  async function expect<D>(
    request: string,
    send: (signal: AbortSignal) => Promise<Answer<D>>,
    limitMs = timeoutMs,
  ): Promise<D> {
    const res = await exchange(request, send, limitMs);
    if (!res.ok) throw errorFromStatus(request, res.status, res.error);
    return res.data as D;
  }

  /** A body that must be an object (guards against an HTML fallback page with status 200). */
  async function expectObject<D extends object>(
    request: string,
    send: (signal: AbortSignal) => Promise<Answer<D>>,
  ): Promise<D> {
    const data = await expect(request, send);
    if (typeof data !== 'object' || data === null) {
      throw new ApiError('invalid', `${request} answered without the expected JSON body`, request);
    }
    return data;
  }

  async function probe(path: '/healthz' | '/readyz'): Promise<ProbeState> {
    const request = `GET ${path}`;
    const res = await exchange(request, (signal) => client.GET(path, { signal }));
    if (res.ok) return { ok: true, status: 200 };
    // The api's own 503 (with its JSON error body) is a state, not a failure.
    if (res.status === 503 && isErrorBody(res.error)) {
      return { ok: false, status: 503, message: res.error.message };
    }
    throw errorFromStatus(request, res.status, res.error);
  }

  function chaos<D>(request: string, res: Exchange<D>): ChaosResult {
    return {
      request,
      status: res.status,
      ms: res.ms,
      message: isErrorBody(res.error) ? res.error.message : undefined,
    };
  }

  return {
    apiBase,
    baseUrl,
    timeoutMs,
    urls: {
      swagger: apiUrl(apiBase, '/swagger/'),
      openapi: apiUrl(apiBase, '/openapi.json'),
      metrics: apiUrl(apiBase, '/metrics'),
    },

    info: () => expectObject('GET /api/info', (signal) => client.GET('/api/info', { signal })),
    version: () => expectObject('GET /version', (signal) => client.GET('/version', { signal })),
    healthz: () => probe('/healthz'),
    readyz: () => probe('/readyz'),
    setReady: (on: boolean) => {
      const path = on ? '/readyz/enable' : '/readyz/disable';
      return expect(`POST ${path}`, (signal) => client.POST(path, { signal }));
    },
    faultStatus: () =>
      expectObject('GET /fault_injection/status', (signal) =>
        client.GET('/fault_injection/status', { signal }),
      ),
    setFault: (on: boolean) => {
      const path = on ? '/fault_injection/enable' : '/fault_injection/disable';
      return expect(`POST ${path}`, (signal) => client.POST(path, { signal }));
    },

    /** `GET /status/{code}`: any answer is a result; only no answer throws. */
    status: async (code: number): Promise<ChaosResult> => {
      const request = `GET /status/${code}`;
      const res = await exchange(request, (signal) =>
        client.GET('/status/{code}', { params: { path: { code } }, signal }),
      );
      return chaos(request, res);
    },
    /** `GET /delay/{seconds}`, with a time limit of the delay plus the usual one. */
    delay: async (seconds: number): Promise<ChaosResult> => {
      const request = `GET /delay/${seconds}`;
      const res = await exchange(
        request,
        (signal) => client.GET('/delay/{seconds}', { params: { path: { seconds } }, signal }),
        seconds * 1000 + timeoutMs,
      );
      return chaos(request, res);
    },

    enqueue: (kind: string, payload: unknown) =>
      expectObject('POST /jobs', (signal) =>
        client.POST('/jobs', { body: { kind, payload }, signal }),
      ),
    jobs: (state: JobStatus, limit = 50) =>
      expectObject(`GET /jobs?state=${state}`, (signal) =>
        client.GET('/jobs', { params: { query: { state, limit } }, signal }),
      ),
    job: (id: string) =>
      expectObject(`GET /jobs/${id}`, (signal) =>
        client.GET('/jobs/{id}', { params: { path: { id } }, signal }),
      ),
    retry: (id: string) =>
      expectObject(`POST /jobs/${id}/retry`, (signal) =>
        client.POST('/jobs/{id}/retry', { params: { path: { id } }, signal }),
      ),
    /** `PUT /store`: keep `text` as a blob; answers its SHA-256. */
    store: (text: string) =>
      expectObject('PUT /store', (signal) =>
        client.PUT('/store', {
          // The contract types an octet-stream body as an array of bytes.
          body: Array.from(new TextEncoder().encode(text)),
          bodySerializer: (bytes: number[]) => new Uint8Array(bytes),
          headers: { 'Content-Type': 'application/octet-stream' },
          signal,
        }),
      ),

    /** `GET /metrics` as Prometheus text. */
    metrics: async (): Promise<string> => {
      const text = await expect('GET /metrics', (signal) =>
        client.GET('/metrics', { parseAs: 'text', signal }),
      );
      if (typeof text !== 'string') {
        throw new ApiError('invalid', 'GET /metrics answered without a body', 'GET /metrics');
      }
      return text;
    },
  };
}

// Runtime configuration, read from /config.json at startup so that one build serves both ways:
// - from blueprint-api (`--ui-path`): `{"apiBase": ""}` (shipped in public/config.json), so API
//   calls are same-origin root paths (`/api/info`, `/readyz`);
// - behind nginx: nginx answers `{"apiBase": "/api"}` and proxies `/api/…` to the api with the
//   prefix stripped (`/api/api/info` → `/api/info`).
// Anything wrong with the file (missing, not JSON, odd value) falls back to `""`.

export interface RuntimeConfig {
  apiBase: string;
  /** Where the values came from: the file, or the default after `error`. */
  source: 'file' | 'default';
  error?: string;
}

export const DEFAULT_CONFIG: RuntimeConfig = { apiBase: '', source: 'default' };

/** `''`, a path prefix (`/api`) or an absolute http(s) URL, without a trailing slash. */
export function normalizeApiBase(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim().replace(/\/+$/, '');
  if (trimmed === '') return '';
  if (trimmed.startsWith('/') && !trimmed.startsWith('//')) return trimmed;
  if (/^https?:\/\/[^/]/.test(trimmed)) return trimmed;
  return null;
}

export async function loadConfig(
  fetchImpl: typeof globalThis.fetch = (input, init) => globalThis.fetch(input, init),
  timeoutMs = 3_000,
): Promise<RuntimeConfig> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetchImpl('/config.json', {
      cache: 'no-store',
      headers: { Accept: 'application/json' },
      signal: controller.signal,
    });
    if (!res.ok) throw new Error(`/config.json answered ${res.status}`);
    const body: unknown = await res.json();
    const apiBase = normalizeApiBase((body as { apiBase?: unknown } | null)?.apiBase);
    if (apiBase === null) throw new Error('/config.json has no usable "apiBase"');
    return { apiBase, source: 'file' };
  } catch (err) {
    const error = controller.signal.aborted
      ? `/config.json got no answer within ${timeoutMs} ms`
      : err instanceof Error
        ? err.message
        : String(err);
    console.warn(`config: ${error}; using apiBase ""`);
    return { ...DEFAULT_CONFIG, error };
  } finally {
    clearTimeout(timer);
  }
}

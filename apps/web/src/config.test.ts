import { describe, expect, it, vi } from 'vitest';

import { loadConfig, normalizeApiBase } from './config';
import { json, text } from './test/helpers';

describe('runtime config', () => {
  it('reads apiBase from /config.json', async () => {
    const fetch = vi.fn(async () => json({ apiBase: '/api/' }));
    expect(await loadConfig(fetch)).toEqual({ apiBase: '/api', source: 'file' });
    expect(fetch).toHaveBeenCalledWith('/config.json', expect.objectContaining({ cache: 'no-store' }));
  });

  it('falls back to "" when the file is missing, not JSON, odd, or slow', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect((await loadConfig(async () => text('nope', 404))).apiBase).toBe('');
    expect((await loadConfig(async () => text('<html>', 200, 'text/html'))).source).toBe('default');
    expect((await loadConfig(async () => json({ apiBase: 'javascript:alert(1)' }))).error).toMatch(/apiBase/);
    expect((await loadConfig(() => Promise.reject(new TypeError('offline')))).error).toBe('offline');
    const slow = (_: unknown, init?: RequestInit) =>
      new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    expect((await loadConfig(slow as typeof fetch, 20)).error).toMatch(/no answer within 20 ms/);
  });

  it('accepts "", path prefixes and http(s) URLs only', () => {
    expect(normalizeApiBase('')).toBe('');
    expect(normalizeApiBase('/')).toBe('');
    expect(normalizeApiBase('/api')).toBe('/api');
    expect(normalizeApiBase('https://api.example/v1/')).toBe('https://api.example/v1');
    expect(normalizeApiBase('//evil.example')).toBeNull();
    expect(normalizeApiBase('api')).toBeNull();
    expect(normalizeApiBase(42)).toBeNull();
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { flushPromises, type VueWrapper } from '@vue/test-utils';

import { json, mountWith, testApi, text } from '../test/helpers';
import MetricsView from './MetricsView.vue';

let wrapper: VueWrapper | undefined;
afterEach(() => {
  wrapper?.unmount();
  vi.useRealTimers();
});

/** An exposition with `ok` 200s and `bad` 500s, all within 5 ms, plus 50 scrapes of /metrics. */
function exposition(ok: number, bad: number): string {
  const series = (path: string, status: number, n: number) =>
    ['0.005', '0.01', '+Inf']
      .map((le) => `http_request_duration_seconds_bucket{method="GET",path="${path}",status="${status}",le="${le}"} ${n}`)
      .concat(`http_request_duration_seconds_count{method="GET",path="${path}",status="${status}"} ${n}`)
      .join('\n');
  return [
    '# TYPE http_request_duration_seconds histogram',
    series('/api/info', 200, ok),
    series('/status/{code}', 500, bad),
    series('/metrics', 200, 50),
    'blueprint_build_info{version="1.2.3",revision="abc"} 1',
  ].join('\n');
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await flushPromises();
}

describe('MetricsView', () => {
  it('computes rate, error ratio and p99 between scrapes and draws them', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(1_700_000_000_000);
    const scrapes = [exposition(10, 0), exposition(16, 6)];
    const { api } = testApi({ 'GET /metrics': () => text(scrapes.shift() ?? exposition(16, 6)) });
    wrapper = mountWith(MetricsView, api);
    await settle();
    expect(wrapper.text()).toContain('Waiting for a second scrape');
    expect(wrapper.get('[data-testid="rate"]').text()).toBe('—');
    expect(wrapper.get('[data-testid="since-start"]').text()).toContain('10');

    await vi.advanceTimersByTimeAsync(3_000);
    await settle();
    // 12 requests (6 of them 5xx) in 3 s; all under 5 ms.
    expect(wrapper.get('[data-testid="rate"]').text()).toBe('4.00 req/s');
    expect(wrapper.get('[data-testid="error-ratio"]').text()).toBe('50.0 %');
    expect(wrapper.get('[data-testid="p99"]').text()).toBe('4.95 ms');
    const charts = wrapper.findAll('svg.sparkline');
    expect(charts).toHaveLength(3);
    expect(charts[0]!.attributes('role')).toBe('img');
    expect(charts[0]!.attributes('aria-label')).toContain('latest 4.00 req/s');
    expect(wrapper.text()).toContain('1.2.3');
  });

  it('counts its own scrapes when asked', async () => {
    const { api } = testApi({ 'GET /metrics': () => text(exposition(10, 0)) });
    wrapper = mountWith(MetricsView, api);
    await vi.waitFor(() => expect(wrapper!.find('[data-testid="since-start"]').exists()).toBe(true));
    expect(wrapper.get('[data-testid="since-start"] dd').text()).toBe('10');
    await wrapper.get('#include-scrapes').setValue(true);
    expect(wrapper.get('[data-testid="since-start"] dd').text()).toBe('60');
  });

  it('shows an error state when /metrics fails', async () => {
    const { api } = testApi({ 'GET /metrics': () => json({ code: 500, message: 'boom' }, 500) });
    wrapper = mountWith(MetricsView, api);
    await vi.waitFor(() => expect(wrapper!.find('[role="alert"]').exists()).toBe(true));
    expect(wrapper.get('[role="alert"]').text()).toContain('GET /metrics answered 500: boom');
  });
});

import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';

import { ApiError } from '../api/client';
import { formatUptime, safeColor } from '../util/format';
import ErrorBanner from './ErrorBanner.vue';
import Sparkline from './Sparkline.vue';
import StateBadge from './StateBadge.vue';

describe('StateBadge', () => {
  it('says the state in words, with a symbol hidden from screen readers', () => {
    const w = mount(StateBadge, { props: { tone: 'bad', label: 'Not ready' } });
    expect(w.text()).toContain('Not ready');
    expect(w.attributes('data-state')).toBe('bad');
    expect(w.get('[aria-hidden="true"]').text()).toBe('✗');
  });
});

describe('ErrorBanner', () => {
  it('is an alert with a headline, the message and a hint per kind', async () => {
    const w = mount(ErrorBanner, {
      props: { error: new ApiError('timeout', 'GET /x got no answer within 5 s', 'GET /x'), retryable: true },
    });
    expect(w.attributes('role')).toBe('alert');
    expect(w.text()).toContain('API timed out');
    expect(w.text()).toContain('GET /x got no answer within 5 s');
    expect(w.text()).toContain('overloaded');
    await w.get('button').trigger('click');
    expect(w.emitted('retry')).toHaveLength(1);
  });

  it('shows any other error too', () => {
    const w = mount(ErrorBanner, { props: { error: new Error('boom') } });
    expect(w.text()).toContain('Something went wrong');
    expect(w.text()).toContain('boom');
    expect(w.find('button').exists()).toBe(false);
  });
});

describe('Sparkline', () => {
  it('draws a path with gaps and describes itself', () => {
    const w = mount(Sparkline, {
      props: { values: [1, 2, null, 4], label: 'Rate', format: (v: number | null) => `${v ?? '—'}/s` },
    });
    const d = w.get('path').attributes('d')!;
    expect(d.match(/M/g)).toHaveLength(2);
    expect(d.match(/L/g)).toHaveLength(1);
    expect(w.attributes('aria-label')).toBe('Rate over the last 4 scrapes: latest 4/s, min 1/s, max 4/s');
  });

  it('says when there is no data', () => {
    const w = mount(Sparkline, { props: { values: [], label: 'Rate', format: String } });
    expect(w.find('path').exists()).toBe(false);
    expect(w.attributes('aria-label')).toBe('Rate: no data yet');
  });
});

describe('format helpers', () => {
  it('formats uptime and checks colors', () => {
    expect(formatUptime(5)).toBe('5s');
    expect(formatUptime(3725)).toBe('1h 2m 5s');
    expect(formatUptime(90_061)).toBe('1d 1h 1m 1s');
    expect(safeColor('#34577c')).toBe('#34577c');
    expect(safeColor('teal')).toBe('teal');
    expect(safeColor('url(javascript:x)')).toBeNull();
  });
});

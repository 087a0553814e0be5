import { afterEach, describe, expect, it, vi } from 'vitest';
import type { VueWrapper } from '@vue/test-utils';

import { json, mountWith, testApi } from '../test/helpers';
import ChaosView from './ChaosView.vue';

let wrapper: VueWrapper | undefined;
afterEach(() => wrapper?.unmount());

describe('ChaosView', () => {
  it('fires /status/{code} and shows the status and latency', async () => {
    const { api, calls } = testApi({ 'GET /status/503': () => json({ code: 503, message: 'status 503' }, 503) });
    wrapper = mountWith(ChaosView, api);
    expect(wrapper.text()).toContain('No requests yet');
    await wrapper.get('#status-code').setValue('503');
    await wrapper.get('form').trigger('submit');
    const result = wrapper.get('[data-testid="chaos-result"]');
    await vi.waitFor(() => expect(result.text()).toMatch(/^GET \/status\/503: status 503 in [\d.]+ ms/));
    expect(result.attributes('aria-live')).toBe('polite');
    expect(calls).toHaveLength(1);
    const row = wrapper.get('[data-testid="chaos-table"] tbody tr');
    expect(row.text()).toContain('503');
    expect(row.get('.badge').attributes('data-state')).toBe('bad');
  });

  it('fires /delay/{seconds} and reports no answer when the api is down', async () => {
    const { api } = testApi({ 'GET /delay/1': () => Promise.reject(new TypeError('Failed to fetch')) });
    wrapper = mountWith(ChaosView, api);
    await wrapper.get('#delay-seconds').setValue('1');
    await wrapper.findAll('form')[1]!.trigger('submit');
    const result = wrapper.get('[data-testid="chaos-result"]');
    await vi.waitFor(() => expect(result.text()).toContain('GET /delay/1: no answer'));
    expect(result.text()).toContain('API unreachable');
    expect(wrapper.get('[data-testid="chaos-table"] tbody tr').text()).toContain('no answer');
  });

  it('does not send an invalid status code', async () => {
    const { api, calls } = testApi({});
    wrapper = mountWith(ChaosView, api);
    await wrapper.get('#status-code').setValue('42');
    expect(wrapper.get('#status-code').attributes('aria-invalid')).toBe('true');
    expect(wrapper.get('[data-testid="status-send"]').attributes('disabled')).toBeDefined();
    await wrapper.get('form').trigger('submit');
    expect(calls).toHaveLength(0);
  });
});

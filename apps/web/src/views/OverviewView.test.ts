import { afterEach, describe, expect, it, vi } from 'vitest';
import type { VueWrapper } from '@vue/test-utils';

import { INFO, json, mountWith, testApi } from '../test/helpers';
import OverviewView from './OverviewView.vue';

let wrapper: VueWrapper | undefined;
afterEach(() => wrapper?.unmount());

describe('OverviewView', () => {
  it('shows what /api/info reports and links Swagger UI under apiBase', async () => {
    const { api } = testApi({ 'GET /api/api/info': () => json(INFO) }, '/api');
    wrapper = mountWith(OverviewView, api);
    expect(wrapper.text()).toContain('Loading…');
    await vi.waitFor(() => expect(wrapper!.find('[data-testid="version"]').exists()).toBe(true));
    expect(wrapper.get('[data-testid="version"]').text()).toBe('1.2.3');
    expect(wrapper.get('[data-testid="revision"]').text()).toBe('abc1234');
    expect(wrapper.get('[data-testid="hostname"]').text()).toBe('pod-1');
    expect(wrapper.get('[data-testid="uptime"]').text()).toBe('1h 2m 5s');
    expect(wrapper.get('[data-testid="message"]').text()).toBe('greetings from blueprint-api');
    expect(wrapper.get('[data-testid="swagger-link"]').attributes('href')).toBe('/api/swagger/');
    expect(wrapper.find('[role="alert"]').exists()).toBe(false);
  });

  it('shows an error state when the api is down, and recovers on "Try again"', async () => {
    let up = false;
    const { api } = testApi({
      'GET /api/info': () => (up ? json(INFO) : Promise.reject(new TypeError('Failed to fetch'))),
    });
    wrapper = mountWith(OverviewView, api);
    await vi.waitFor(() => expect(wrapper!.find('[role="alert"]').exists()).toBe(true));
    const alert = wrapper.get('[role="alert"]');
    expect(alert.text()).toContain('API unreachable');
    expect(alert.text()).toContain('Cannot reach the API');
    expect(wrapper.find('[data-testid="version"]').exists()).toBe(false);

    up = true;
    await alert.get('button').trigger('click');
    await vi.waitFor(() => expect(wrapper!.find('[data-testid="version"]').exists()).toBe(true));
    expect(wrapper.find('[role="alert"]').exists()).toBe(false);
  });

  it('says so when the api answers 503', async () => {
    const { api } = testApi({ 'GET /api/info': () => json({ code: 503, message: 'shutting down' }, 503) });
    wrapper = mountWith(OverviewView, api);
    await vi.waitFor(() => expect(wrapper!.find('[role="alert"]').exists()).toBe(true));
    expect(wrapper.get('[role="alert"]').text()).toContain('API unavailable');
    expect(wrapper.get('[role="alert"]').text()).toContain('503 Service Unavailable: shutting down');
  });
});

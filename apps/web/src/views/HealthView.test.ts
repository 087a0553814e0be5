import { afterEach, describe, expect, it, vi } from 'vitest';
import type { VueWrapper } from '@vue/test-utils';

import { json, mountWith, testApi } from '../test/helpers';
import HealthView from './HealthView.vue';

let wrapper: VueWrapper | undefined;
afterEach(() => wrapper?.unmount());

function fakeApi() {
  const state = { ready: true, fault: false };
  return {
    state,
    ...testApi({
      'GET /healthz': () => json({ status: 'OK' }),
      'GET /readyz': () => (state.ready ? json({ status: 'OK' }) : json({ code: 503, message: 'not ready' }, 503)),
      'POST /readyz/enable': () => ((state.ready = true), json({ status: 'OK' }, 202)),
      'POST /readyz/disable': () => ((state.ready = false), json({ status: 'OK' }, 202)),
      'GET /fault_injection/status': () => json({ enabled: state.fault }),
      'POST /fault_injection/enable': () => ((state.fault = true), json({ enabled: true }, 202)),
      'POST /fault_injection/disable': () => ((state.fault = false), json({ enabled: false }, 202)),
    }),
  };
}

const badge = (w: VueWrapper, id: string) => w.get(`[data-testid="${id}"] .badge`);

describe('HealthView', () => {
  it('shows the probes in words and colors', async () => {
    const { api } = fakeApi();
    wrapper = mountWith(HealthView, api);
    await vi.waitFor(() => expect(badge(wrapper!, 'ready-state').attributes('data-state')).toBe('ok'));
    expect(badge(wrapper, 'live-state').text()).toContain('Live (200)');
    expect(badge(wrapper, 'ready-state').text()).toContain('Ready (200)');
    expect(badge(wrapper, 'fault-state').text()).toContain('Off');
  });

  it('disables readiness: the state turns red and says "Not ready", and it is announced', async () => {
    const { api, calls, state } = fakeApi();
    wrapper = mountWith(HealthView, api);
    await vi.waitFor(() => expect(badge(wrapper!, 'ready-state').attributes('data-state')).toBe('ok'));
    await wrapper.get('[data-testid="ready-disable"]').trigger('click');
    await vi.waitFor(() => expect(badge(wrapper!, 'ready-state').attributes('data-state')).toBe('bad'));
    expect(state.ready).toBe(false);
    expect(calls.some((c) => c.method === 'POST' && c.path === '/readyz/disable')).toBe(true);
    expect(badge(wrapper, 'ready-state').classes()).toContain('badge--bad');
    expect(badge(wrapper, 'ready-state').text()).toContain('Not ready (503: not ready)');
    const live = wrapper.get('[data-testid="health-announcement"]');
    expect(live.attributes('aria-live')).toBe('polite');
    await vi.waitFor(() => expect(live.text()).toBe('Readiness disabled: /readyz answers 503.'));
    expect(wrapper.get('[data-testid="ready-disable"]').attributes('disabled')).toBeDefined();
  });

  it('turns fault injection on and off', async () => {
    const { api } = fakeApi();
    wrapper = mountWith(HealthView, api);
    await vi.waitFor(() => expect(badge(wrapper!, 'fault-state').attributes('data-state')).toBe('ok'));
    await wrapper.get('[data-testid="fault-enable"]').trigger('click');
    await vi.waitFor(() => expect(badge(wrapper!, 'fault-state').text()).toContain('On: application routes answer 500'));
    await wrapper.get('[data-testid="fault-disable"]').trigger('click');
    await vi.waitFor(() => expect(badge(wrapper!, 'fault-state').text()).toContain('Off'));
  });

  it('shows an error when the api cannot be reached', async () => {
    const { api } = testApi({});
    const down = { ...api, healthz: () => Promise.reject(new TypeError('down')) } as typeof api;
    wrapper = mountWith(HealthView, down);
    await vi.waitFor(() => expect(wrapper!.find('[role="alert"]').exists()).toBe(true));
    expect(badge(wrapper, 'live-state').text()).toContain('Unknown');
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { mount, type VueWrapper } from '@vue/test-utils';
import { ref } from 'vue';
import { createMemoryHistory, createRouter } from 'vue-router';

import App from './App.vue';
import { ApiError } from './api/client';
import { ApiKey, ReachabilityKey } from './composables/useApi';
import { routes } from './router';
import { INFO, json, testApi } from './test/helpers';

let wrapper: VueWrapper | undefined;
afterEach(() => wrapper?.unmount());

describe('App', () => {
  it('has a skip link, a labelled nav, one main, and says whether the api answers', async () => {
    const { api } = testApi({ 'GET /api/info': () => json(INFO) });
    const reachability = ref<ApiError | null | undefined>(undefined);
    const router = createRouter({ history: createMemoryHistory(), routes });
    await router.push('/');
    wrapper = mount(App, {
      global: { plugins: [router], provide: { [ApiKey as symbol]: api, [ReachabilityKey as symbol]: reachability } },
    });
    expect(wrapper.get('a.skip-link').text()).toBe('Skip to content');
    const nav = wrapper.get('nav');
    expect(nav.attributes('aria-label')).toBe('Main');
    expect(nav.findAll('a').map((a) => a.text())).toEqual(['Overview', 'Health', 'Chaos', 'Jobs', 'Metrics']);
    expect(nav.get('a[aria-current="page"]').text()).toBe('Overview');
    expect(wrapper.findAll('main')).toHaveLength(1);
    expect(wrapper.get('[data-testid="api-reachability"]').text()).toContain('API: checking…');
    await vi.waitFor(() => expect(wrapper!.find('[data-testid="version"]').exists()).toBe(true));
    reachability.value = null;
    await wrapper.vm.$nextTick();
    expect(wrapper.get('[data-testid="api-reachability"]').text()).toContain('API reachable');

    reachability.value = new ApiError('network', 'Cannot reach the API', 'GET /api/info');
    await wrapper.vm.$nextTick();
    expect(wrapper.get('[data-testid="api-reachability"]').text()).toContain('API unreachable');

    await router.push('/jobs');
    await vi.waitFor(() => expect(wrapper!.get('h1').text()).toBe('Jobs'));
    expect(nav.get('a[aria-current="page"]').text()).toBe('Jobs');
  });
});

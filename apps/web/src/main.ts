import './styles.css';

import { createApp, ref } from 'vue';

import App from './App.vue';
import { ApiError, createApi } from './api/client';
import { ApiKey, ReachabilityKey } from './composables/useApi';
import { loadConfig } from './config';
import { createAppRouter } from './router';

async function start(): Promise<void> {
  const config = await loadConfig();
  const reachability = ref<ApiError | null | undefined>(undefined);
  const api = createApi({
    apiBase: config.apiBase,
    onReachability: (error) => {
      reachability.value = error;
    },
  });
  const app = createApp(App);
  app.provide(ApiKey, api);
  app.provide(ReachabilityKey, reachability);
  app.use(createAppRouter());
  app.config.errorHandler = (err) => console.error('ui error:', err);
  app.mount('#app');
}

start().catch((err: unknown) => {
  // Never a blank page: say what broke in place of the app.
  console.error(err);
  const root = document.getElementById('app');
  if (root) {
    root.innerHTML = '';
    const p = document.createElement('p');
    p.className = 'boot boot--error';
    p.setAttribute('role', 'alert');
    p.textContent = `The UI failed to start: ${err instanceof Error ? err.message : String(err)}`;
    root.append(p);
  }
});

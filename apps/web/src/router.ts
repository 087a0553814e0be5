import { createRouter, createWebHashHistory, type RouteRecordRaw, type Router } from 'vue-router';

import ChaosView from './views/ChaosView.vue';
import HealthView from './views/HealthView.vue';
import JobsView from './views/JobsView.vue';
import MetricsView from './views/MetricsView.vue';
import OverviewView from './views/OverviewView.vue';

// Hash history (`/#/jobs`): served from the api's root (`--ui-path`), UI paths such as `/jobs` or
// `/metrics` would collide with the api's own routes on a reload. With the hash, the server only
// ever serves `/` (index.html), `/assets/*` and `/config.json`.
export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'overview', component: OverviewView, meta: { title: 'Overview' } },
  { path: '/health', name: 'health', component: HealthView, meta: { title: 'Health' } },
  { path: '/chaos', name: 'chaos', component: ChaosView, meta: { title: 'Chaos' } },
  { path: '/jobs', name: 'jobs', component: JobsView, meta: { title: 'Jobs' } },
  { path: '/metrics', name: 'metrics', component: MetricsView, meta: { title: 'Metrics' } },
  { path: '/:pathMatch(.*)*', redirect: '/' },
];

export function createAppRouter(): Router {
  const router = createRouter({ history: createWebHashHistory(), routes });
  router.afterEach((to) => {
    const title = typeof to.meta.title === 'string' ? to.meta.title : '';
    document.title = title ? `${title} · SRE Blueprint` : 'SRE Blueprint';
  });
  return router;
}

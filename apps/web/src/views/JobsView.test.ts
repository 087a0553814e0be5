import { afterEach, describe, expect, it, vi } from 'vitest';
import type { VueWrapper } from '@vue/test-utils';

import { job, json, mountWith, testApi } from '../test/helpers';
import JobsView from './JobsView.vue';
import { mergeJobs, outcome, shortId } from './jobs';

let wrapper: VueWrapper | undefined;
afterEach(() => wrapper?.unmount());

const DEAD_ID = '01a21723-c1bd-77eb-a4cb-7d0cf5b14d31';

function fakeApi(lists: Record<string, unknown[]>) {
  return testApi({
    'GET /jobs': (req) => {
      const state = new URL(req.url).searchParams.get('state') ?? '';
      return json({ jobs: lists[state] ?? [], next_cursor: null });
    },
    'POST /jobs': () => json({ id: 'new-job-id', status_url: '/jobs/new-job-id', duplicate: false }, 202),
    [`POST /jobs/${DEAD_ID}/retry`]: () => {
      const again = job({ id: DEAD_ID, kind: 'flaky', status: 'queued', attempts: 0 });
      lists.dead = [];
      lists.queued = [again];
      return json(again, 202);
    },
    'PUT /store': () => json({ hash: 'a'.repeat(64) }, 202),
  });
}

describe('JobsView', () => {
  it('lists jobs by state, with dead letters apart', async () => {
    const { api } = fakeApi({
      succeeded: [job()],
      dead: [job({ id: DEAD_ID, kind: 'flaky', status: 'dead', attempts: 5, last_error: 'flaky job failed (p = 1)' })],
    });
    wrapper = mountWith(JobsView, api);
    await vi.waitFor(() => expect(wrapper!.findAll('[data-testid="job-row"]')).toHaveLength(1));
    const row = wrapper.get('[data-testid="job-row"]');
    expect(row.attributes('data-status')).toBe('succeeded');
    expect(row.text()).toContain('{"slept_ms":500}');
    const dead = wrapper.get(`[data-testid="dead-row"][data-job-id="${DEAD_ID}"]`);
    expect(dead.text()).toContain('flaky job failed (p = 1)');
    expect(dead.text()).toContain('5 / 5');
  });

  it('shows empty states', async () => {
    const { api } = fakeApi({});
    wrapper = mountWith(JobsView, api);
    await vi.waitFor(() => expect(wrapper!.find('[data-testid="jobs-empty"]').exists()).toBe(true));
    expect(wrapper.find('[data-testid="dead-empty"]').exists()).toBe(true);
  });

  it('submits a job with the payload of its kind', async () => {
    const { api, calls } = fakeApi({});
    wrapper = mountWith(JobsView, api);
    await wrapper.get('#job-kind').setValue('flaky');
    await wrapper.get('#flaky-p').setValue('1');
    await wrapper.get('[data-testid="job-form"]').trigger('submit');
    await vi.waitFor(() => expect(wrapper!.find('[data-testid="last-job-id"]').exists()).toBe(true));
    expect(wrapper.get('[data-testid="last-job-id"]').text()).toBe('new-job-id');
    const post = calls.find((c) => c.method === 'POST' && c.path === '/jobs');
    expect(JSON.parse(post!.body!)).toEqual({ kind: 'flaky', payload: { p: 1 } });
    expect(wrapper.get('[data-testid="jobs-announcement"]').text()).toContain('Queued: flaky job new-job-id');
  });

  it('stores the text first for a checksum job', async () => {
    const { api, calls } = fakeApi({});
    wrapper = mountWith(JobsView, api);
    await wrapper.get('#job-kind').setValue('checksum');
    await wrapper.get('#checksum-text').setValue('hello');
    await wrapper.get('[data-testid="job-form"]').trigger('submit');
    await vi.waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.path === '/jobs')).toBe(true));
    expect(calls.find((c) => c.method === 'PUT')!.body).toBe('hello');
    const post = calls.find((c) => c.method === 'POST' && c.path === '/jobs');
    expect(JSON.parse(post!.body!)).toEqual({ kind: 'checksum', payload: { hash: 'a'.repeat(64) } });
  });

  it('shows the reason a job was refused', async () => {
    const { api } = testApi({
      'GET /jobs': () => json({ jobs: [], next_cursor: null }),
      'POST /jobs': () => json({ code: 422, message: 'sleep: duration_ms: at most 60000 ms' }, 422),
    });
    wrapper = mountWith(JobsView, api);
    await wrapper.get('[data-testid="job-form"]').trigger('submit');
    await vi.waitFor(() => expect(wrapper!.find('[role="alert"]').exists()).toBe(true));
    expect(wrapper.get('[role="alert"]').text()).toContain('POST /jobs answered 422: sleep: duration_ms: at most 60000 ms');
  });

  it('retries a dead job', async () => {
    const { api, calls } = fakeApi({ dead: [job({ id: DEAD_ID, kind: 'flaky', status: 'dead', attempts: 5 })] });
    wrapper = mountWith(JobsView, api);
    await vi.waitFor(() => expect(wrapper!.find('[data-testid="retry"]').exists()).toBe(true));
    const button = wrapper.get('[data-testid="retry"]');
    expect(button.attributes('aria-label')).toBe(`Retry flaky job ${shortId(DEAD_ID)}`);
    await button.trigger('click');
    await vi.waitFor(() => expect(calls.some((c) => c.path === `/jobs/${DEAD_ID}/retry`)).toBe(true));
    await vi.waitFor(() => expect(wrapper!.get('[data-testid="jobs-announcement"]').text()).toContain('queued again'));
    await vi.waitFor(() => expect(wrapper!.find('[data-testid="dead-empty"]').exists()).toBe(true));
    expect(wrapper.get(`[data-testid="job-row"][data-job-id="${DEAD_ID}"]`).attributes('data-status')).toBe('queued');
  });

  it('shows an error state when the list cannot be read', async () => {
    const { api } = testApi({ 'GET /jobs': () => json({ code: 503, message: 'queue unavailable' }, 503) });
    wrapper = mountWith(JobsView, api);
    await vi.waitFor(() => expect(wrapper!.find('[role="alert"]').exists()).toBe(true));
    expect(wrapper.get('[role="alert"]').text()).toContain('queue unavailable');
  });
});

describe('job helpers', () => {
  it('keeps the later copy of a job seen in two lists, newest job first', () => {
    const a = job({ id: 'a', status: 'running', started_at_ms: 10, enqueued_at_ms: 1 });
    const a2 = job({ id: 'a', status: 'succeeded', started_at_ms: 10, enqueued_at_ms: 1 });
    const b = job({ id: 'b', status: 'queued', started_at_ms: null, enqueued_at_ms: 2 });
    const merged = mergeJobs([[a], [b], [a2]] as never);
    expect(merged.map((j) => [j.id, j.status])).toEqual([
      ['b', 'queued'],
      ['a', 'succeeded'],
    ]);
  });

  it('summarizes the outcome', () => {
    expect(outcome(job() as never)).toBe('{"slept_ms":500}');
    expect(outcome(job({ status: 'failed', result: null, last_error: 'boom' }) as never)).toBe('boom');
    expect(shortId('01a21723-c1bd-77eb-a4cb-7d0cf5b14d31')).toBe('01a21723…4d31');
  });
});

import { mount } from '@vue/test-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineComponent, h } from 'vue';

import { usePoll } from './usePoll';

afterEach(() => vi.useRealTimers());

function harness(task: () => Promise<void>, interval: number) {
  let api: ReturnType<typeof usePoll> | undefined;
  const C = defineComponent({
    setup() {
      api = usePoll(task, interval);
      return () => h('div');
    },
  });
  const wrapper = mount(C);
  return { wrapper, poll: () => api! };
}

describe('usePoll', () => {
  it('runs at once, then every interval after each run, and stops on unmount', async () => {
    vi.useFakeTimers();
    const task = vi.fn(async () => {});
    const { wrapper } = harness(task, 1_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(task).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(task).toHaveBeenCalledTimes(5);
    wrapper.unmount();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(task).toHaveBeenCalledTimes(5);
  });

  it('never runs twice at once: a refresh during a run runs again right after it', async () => {
    vi.useFakeTimers();
    let running = 0;
    let most = 0;
    const task = vi.fn(async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 100));
      running--;
    });
    const { wrapper, poll } = harness(task, 1_000);
    await vi.advanceTimersByTimeAsync(10);
    void poll().refresh();
    void poll().refresh();
    await vi.advanceTimersByTimeAsync(250);
    expect(most).toBe(1);
    expect(task).toHaveBeenCalledTimes(2);
    wrapper.unmount();
  });

  it('keeps polling after a failing run', async () => {
    vi.useFakeTimers();
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const task = vi.fn(async () => {
      throw new Error('boom');
    });
    const { wrapper } = harness(task, 500);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(task).toHaveBeenCalledTimes(3);
    wrapper.unmount();
  });
});

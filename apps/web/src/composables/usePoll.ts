import { onBeforeUnmount, onMounted, ref } from 'vue';

/**
 * Run `task` now and then again `intervalMs` after each run ends (never two at once), while the
 * component is mounted. Skipped while the tab is hidden; runs at once when it shows again.
 * `refresh()` runs it now (or right after the run in flight).
 */
export function usePoll(task: () => Promise<void>, intervalMs: number) {
  const running = ref(false);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  function schedule(): void {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(() => void run(), intervalMs);
  }

  async function run(): Promise<void> {
    if (stopped) return;
    if (inFlight) {
      again = true;
      return inFlight;
    }
    clearTimeout(timer);
    if (typeof document !== 'undefined' && document.hidden) {
      schedule();
      return;
    }
    running.value = true;
    inFlight = (async () => {
      try {
        await task();
      } catch (err) {
        // Tasks keep their own error state; this only keeps the loop alive.
        console.error(err);
      } finally {
        running.value = false;
        inFlight = undefined;
      }
    })();
    await inFlight;
    if (again) {
      again = false;
      return run();
    }
    schedule();
  }

  function onVisibility(): void {
    if (!document.hidden) void run();
  }

  onMounted(() => {
    document.addEventListener('visibilitychange', onVisibility);
    void run();
  });
  onBeforeUnmount(() => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  });

  return { refresh: run, running };
}

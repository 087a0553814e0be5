import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [vue()],
  test: {
    environment: 'happy-dom',
    environmentOptions: { happyDOM: { url: 'http://ui.test/' } },
    include: ['src/**/*.test.ts'],
    restoreMocks: true,
    testTimeout: 10_000,
  },
});

import { defineConfig } from 'vitest/config';

/** Runs only the history capture (test/workflows/captureDeliveryHistories.ts), which the suite leaves out. */
export default defineConfig({
  test: {
    include: ['test/workflows/captureDeliveryHistories.ts'],
    pool: 'forks',
    globalSetup: ['test/support/globalSetup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

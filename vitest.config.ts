import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['engine/**/*.test.ts', 'native/**/*.test.ts', 'connectors/**/*.test.ts', 'scenarios/**/*.test.ts', 'bench/**/*.test.ts'],
    exclude: ['**/node_modules/**', '.rb/**', 'native/target/**', 'target/**'],
    globalSetup: ['engine/testing/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // 2 cores: PostgreSQL needs one of them; two test files at a time keeps the suite steady.
    maxWorkers: 2,
    pool: 'forks',
  },
});

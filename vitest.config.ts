import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    // After each file: every response had a status its operation declares in openapi.yaml.
    setupFiles: ['test/support/contractCheck.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Test files run in parallel, each against its own database cloned from a migrated template.
    fileParallelism: true,
  },
});

import { defineConfig } from 'vitest/config';

// Suites named *.mosquitto.test.ts need the mosquitto binary; they run in the same
// `npm test` so CI exercises them, and skip with a logged reason on a machine without it
// unless CI is set (then a missing broker is a failure, not a silent skip).
export default defineConfig({
  test: {
    include: ['{hal,device,sync,backend-sync,simulator,scripts}/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});

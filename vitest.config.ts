import { defineConfig } from 'vitest/config';

// Suites named *.mosquitto.test.ts need the mosquitto binary; they run in the same
// `npm test` so CI exercises them, and skip with a logged reason on a machine without it
// unless CI is set (then a missing broker is a failure, not a silent skip).
export default defineConfig({
  test: {
    include: ['{hal,device,sync,backend-sync,simulator,scripts}/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: on a 2-core CI box that ran the
    // 230 files one at a time (~800 s). Most files wait on SQLite fsyncs, PostgreSQL, a broker
    // or timers, so one per core roughly halves the wall time (~270 s). Files running side by
    // side must not share state: each opens its own temp dir, PostgreSQL schema and free
    // ports, watches only its own schema's sessions, and builds programs into its own dir.
    maxWorkers: '100%',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});

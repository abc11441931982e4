// Rebuilds the tracking projections, read models and review flags by replaying history,
// and reports every difference found (one JSON line each on stdout, a summary on stderr):
//   npx tsx backend-sync/scripts/rebuild-tracking.ts [--dry-run]
// Uses the backend's configuration (BACKEND_CONFIG file + env, as `npm run backend`), so
// it runs against the same database, SQLite or PostgreSQL. Safe beside running instances:
// each number is rebuilt under its projection lock, as the applier holds it. Exit status:
// 0 nothing differed, 1 differences found (repaired unless --dry-run), 2 failure.
import { pino } from 'pino';
import { loadConfig } from '../config/config.js';
import { systemClock } from '../shared/clock.js';
import { createLogger } from '../shared/logger.js';
import { openStore } from '../store/open-store.js';
import type { SqlStore } from '../store/sql-store.js';
import { learnedEta } from '../tracking/eta/learned-eta.js';
import { LegStatsCache } from '../tracking/eta/leg-stats-store.js';
import { rebuildTracking } from '../tracking/rebuild-tracking.js';

const USAGE = 'usage: rebuild-tracking.ts [--dry-run]   (BACKEND_CONFIG names the backend config; exit 0 same, 1 differences, 2 failure)\n';
const args = process.argv.slice(2);
if (args.some((a) => a === '--help' || a === '-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (args.some((a) => a !== '--dry-run')) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const write = !args.includes('--dry-run');
let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
// Logs go to stderr: stdout is the report, one difference per line, for a pipe to read.
const logger = createLogger({ level: config.logLevel, destination: pino.destination({ dest: 2, sync: true }) });
let store: SqlStore | undefined;
let differences = 0;
try {
  // The database the instances use, as they left it: nothing is created (a mistyped path
  // is an error, not an empty database that has no differences) and nothing is migrated
  // (a dry run must not upgrade the schema under instances of the previous release).
  store = await openStore(config.db, logger, { existing: true });
  // Repairs get the ETA the running backend would give them now (the comparison ignores it).
  // Each number's differences are printed once its transaction committed: a run that fails
  // later has said what it repaired.
  const report = await rebuildTracking(store, systemClock, learnedEta(new LegStatsCache(store.legStats, systemClock), systemClock), {
    write,
    onDifference: (d) => {
      differences++;
      process.stdout.write(`${JSON.stringify(d)}\n`);
    },
  });
  process.stderr.write(`tracking numbers: ${String(report.numbers)}, differences: ${String(differences)}${write && differences > 0 ? ' (repaired)' : ''}\n`);
  process.exitCode = differences === 0 ? 0 : 1;
} catch (err) {
  process.stderr.write(`rebuild failed: ${err instanceof Error ? err.message : String(err)}${differences > 0 ? ` (after ${String(differences)} differences${write ? ', repaired' : ''}, listed above)` : ''}\n`);
  process.exitCode = 2;
} finally {
  await store?.close();
}

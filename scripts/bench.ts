// Runs every benchmark in scripts/bench/ (or those whose file name contains an argument),
// each in its own process so one cannot skew another's memory or JIT state. Each prints
// one line per figure, `name: value unit`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKEND_NODE_FLAGS } from '@locker/backend/node-flags.js';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), 'bench');
// Anchors: scripts that print a figure of their own and also export it, so a bench that is
// judged against the anchor takes it in its own run (backend-pg.bench.ts measures pgbench
// right before its HTTP load). They keep a plain module name and run alone only when an
// argument names them: in a full run the figure comes once, from the bench that uses it.
const anchors = ['pgbench.ts'];
const backendBenches = ['backend', 'tracking', 'store-engines'];
const filters = process.argv.slice(2);
const files = readdirSync(benchDir)
  .filter((f) => (f.endsWith('.bench.ts') && (filters.length === 0 || filters.some((x) => f.includes(x)))) || (anchors.includes(f) && filters.some((x) => f.includes(x))))
  .sort();

let failed = 0;
for (const file of files) {
  process.stdout.write(`# ${file}\n`);
  // The backend's benches host its services in the bench process: give it the backend's flags.
  const flags = backendBenches.some((prefix) => file.startsWith(prefix)) ? BACKEND_NODE_FLAGS : [];
  const result = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--expose-gc', join(benchDir, file)], {
    stdio: 'inherit',
    env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent' },
  });
  if (result.status !== 0) {
    failed++;
    process.stdout.write(`# ${file} failed with status ${String(result.status)}\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);

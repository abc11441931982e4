// `npm run scenario -- <file.json>...` (or `npx tsx simulator/scenarios/run-scenario.ts …`):
// plays each scenario on a fresh simulator session in a temporary data dir, prints every
// step, and exits 1 when one fails. Logs go to <tmp>/simulator.log, kept on failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger } from '@locker/device/logger.js';
import { loadScenario } from './load-scenario.js';
import { runScenario } from './scenario-runner.js';

async function main(files: string[]): Promise<number> {
  if (files.length === 0) {
    process.stderr.write('usage: npm run scenario -- <scenario.json>... (see simulator/scenarios/*.json)\n');
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    const scenario = loadScenario(file);
    const dir = mkdtempSync(join(tmpdir(), 'sim-scenario-'));
    const logger = createLogger({ name: 'scenario', level: 'info', destination: pino.destination({ dest: join(dir, 'simulator.log'), sync: true }) });
    process.stdout.write(`\n=== ${scenario.name} (${file})\n`);
    const result = await runScenario(scenario, { dataDir: dir, logger, print: (line) => process.stdout.write(`${line}\n`) });
    process.stdout.write(result.ok ? `PASSED: ${scenario.name}\n` : `FAILED: ${scenario.name} (logs in ${join(dir, 'simulator.log')})\n`);
    if (result.ok) rmSync(dir, { recursive: true, force: true });
    else failed++;
  }
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`scenario: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);

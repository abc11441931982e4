import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@locker/device/logger.js';
import { loadScenario } from './load-scenario.js';
import { runScenario } from './scenario-runner.js';

// Every scenario file in this folder, played on a fresh simulator session (embedded backend
// and broker, real runtime, real SQLite) in its own temp dir. A scenario marked with a
// knownDefect is expected to fail until the defect is fixed: the test then fails too and the
// marker must go.

const here = fileURLToPath(new URL('.', import.meta.url));
const files = readdirSync(here).filter((f) => f.endsWith('.json')).sort();
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('simulator scenarios', { timeout: 90_000 }, () => {
  it('finds the six scenarios the simulator promises', () => {
    expect(files).toEqual([
      'broker-outage-deposits.json',
      'courier-deposit-pickup.json',
      'expiry-return-retrieval.json',
      'jammed-door-reslot.json',
      'power-cut-mid-open.json',
      'wrong-codes-lockout.json',
    ]);
  });

  for (const file of files) {
    const scenario = loadScenario(join(here, file));
    const play = async (): Promise<void> => {
      const dir = mkdtempSync(join(tmpdir(), 'sim-scenario-'));
      dirs.push(dir);
      const lines: string[] = [];
      const result = await runScenario(scenario, { dataDir: dir, logger: silentLogger(), print: (line) => lines.push(line) });
      expect(result.ok, lines.join('\n')).toBe(true);
      expect(result.steps).toHaveLength(scenario.steps.length);
    };
    if (scenario.knownDefect === undefined) it(`${file}: ${scenario.name}`, play);
    else it.fails(`${file}: ${scenario.name} (known defect: ${scenario.knownDefect.slice(0, 60)}…)`, play);
  }
});

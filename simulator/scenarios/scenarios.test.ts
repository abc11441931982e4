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
// knownDefect is expected to fail at its last step (the one that states the defect) until
// the defect is fixed: the test then fails and the marker must go. Failing anywhere else is
// a failure.

const here = fileURLToPath(new URL('.', import.meta.url));
const files = readdirSync(here).filter((f) => f.endsWith('.json')).sort();
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('simulator scenarios', { timeout: 90_000 }, () => {
  it('finds the six scenarios the simulator promises, and the known-defect one', () => {
    expect(files).toEqual([
      'broker-outage-deposits.json',
      'courier-deposit-pickup.json',
      'expiry-return-retrieval.json',
      'jammed-door-reslot.json',
      'keypad-lockout-audited.json',
      'power-cut-mid-open.json',
      'wrong-codes-lockout.json',
    ]);
  });

  for (const file of files) {
    const scenario = loadScenario(join(here, file));
    const play = async (): Promise<{ ok: boolean; failedAt: number | undefined; log: string }> => {
      const dir = mkdtempSync(join(tmpdir(), 'sim-scenario-'));
      dirs.push(dir);
      const lines: string[] = [];
      const result = await runScenario(scenario, { dataDir: dir, logger: silentLogger(), print: (line) => lines.push(line) });
      return { ok: result.ok, failedAt: result.steps.find((s) => !s.ok)?.index, log: lines.join('\n') };
    };
    if (scenario.knownDefect === undefined) {
      it(`${file}: ${scenario.name}`, async () => {
        const run = await play();
        expect(run.ok, run.log).toBe(true);
      });
    } else {
      it(`${file}: ${scenario.name} fails at its last step until the known defect is fixed`, async () => {
        const run = await play();
        expect(run.failedAt, `${scenario.knownDefect ?? ''}\n${run.log}`).toBe(scenario.steps.length - 1);
      });
    }
  }
});

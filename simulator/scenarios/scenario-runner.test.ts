import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@locker/device/logger.js';
import { matches, runScenario } from './scenario-runner.js';
import { scenarioSchema } from './scenario-schema.js';

const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sim-runner-'));
  dirs.push(dir);
  return dir;
}

describe('scenario runner', { timeout: 30_000 }, () => {
  it('matches events on every given field, recursively, and nothing else', () => {
    const event = { type: 'audit', auditType: 'door.jammed', data: { compartmentId: 'A05', opId: 'x' } };
    expect(matches(event, { type: 'audit', data: { compartmentId: 'A05' } })).toBe(true);
    expect(matches(event, { type: 'audit', data: { compartmentId: 'A06' } })).toBe(false);
    expect(matches(event, { type: 'audit', missing: 1 })).toBe(false);
  });

  it('fails a step whose expectation does not hold by its deadline, and stops there', async () => {
    const scenario = scenarioSchema.parse({
      name: 'a door that never opens',
      offline: true,
      steps: [{ run: 'open A01' }, { expect: { compartment: { id: 'A01', door: 'open' } }, within: '200ms' }, { run: 'status' }],
    });
    const result = await runScenario(scenario, { dataDir: dataDir(), logger: silentLogger() });
    expect(result.ok).toBe(false);
    expect(result.steps).toHaveLength(2);
    expect(result.steps[1]?.detail[0]).toBe('A01.door is closed, expected open');
  });

  it('fails a step that uses a value nothing captured, instead of matching it loosely', async () => {
    const scenario = scenarioSchema.parse({ name: 'no parcel', offline: true, steps: [{ run: 'open ${compartment}' }] });
    const result = await runScenario(scenario, { dataDir: dataDir(), logger: silentLogger() });
    expect(result.ok).toBe(false);
    expect(result.steps[0]?.detail).toEqual(['nothing captured yet for ${compartment}']);
  });

  it('fails a command that prints an error', async () => {
    const scenario = scenarioSchema.parse({ name: 'typo', offline: true, steps: [{ run: 'fault Z99 door-jammed' }] });
    const result = await runScenario(scenario, { dataDir: dataDir(), logger: silentLogger() });
    expect(result.ok).toBe(false);
    expect(result.steps[0]?.detail[0]).toMatch(/^error: no compartment Z99/);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@locker/device/logger.js';
import { dataDirPaths } from './data-dir.js';
import { runDemoScenario } from './demo-scenario.js';
import { openLockerSim, type LockerSim } from './locker-sim.js';
import { parseSimConfig } from './sim-config.js';
import { createSimStack, type SimStack } from './sim-stack.js';
import { isDisplay, nextEvent } from './wait-for.js';

// The demo against the real runtime, a real SQLite file in a temp dir and real
// signatures: the same stack `npm start` composes. Assertions are on what the device
// persisted and what the drivers did, not on the printed text.

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openStack(dir: string, sync = true): Promise<{ sim: LockerSim; stack: SimStack }> {
  const config = parseSimConfig({});
  const paths = dataDirPaths(dir);
  const stack = await createSimStack({ config, paths, logger: silentLogger(), sync, say: () => undefined });
  const sim = await openLockerSim({ config, dataDir: dir, logger: silentLogger(), createRuntime: stack.createRuntime });
  await sim.start();
  await stack.afterStart(sim);
  cleanups.push(async () => {
    await stack.stop();
    await sim.stop();
  });
  return { sim, stack };
}

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sim-demo-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function auditTypes(sim: LockerSim): string[] {
  return sim.store.database.prepare<[], { type: string }>('SELECT type FROM audit_log ORDER BY seq').all().map((r) => r.type);
}

describe('demo scenario', () => {
  it('runs to completion: deposited, collected, the right door pulsed twice and a valid audit chain', async () => {
    const { sim, stack } = await openStack(tempDataDir());
    const printed: string[] = [];
    const result = await runDemoScenario({ sim, source: await stack.demoSource(sim), print: (l) => printed.push(l) });

    expect(result.auditChain.ok).toBe(true);
    expect(sim.store.findEntryByTokenId(result.pickupTokenId)).toMatchObject({ state: 'collected', currentCompartmentId: result.compartmentId });
    expect(sim.store.getCompartment(result.compartmentId)?.status).toBe('free');
    expect(sim.store.codeSetState().version).toBe(1);
    // Courier deposit and customer pickup: two pulses, both on the parcel's compartment.
    expect(sim.control.pulses().map((p) => p.compartmentId)).toEqual([result.compartmentId, result.compartmentId]);
    expect(sim.control.doorIsOpen(result.compartmentId)).toBe(false);
    expect(auditTypes(sim)).toEqual(expect.arrayContaining(['courier.deposited', 'pickup.collected']));
    expect(printed.join('\n')).toMatch(/\[9\/9\]/);
    // Over MQTT: the backend acknowledged the whole audit log, and the agent is connected.
    expect(sim.store.auditAckedWatermark()).toBeGreaterThanOrEqual(result.auditChain.ok ? result.auditChain.lastSeq : Infinity);
    expect(stack.view.sync()).toMatchObject({ connected: true, rejections: 0 });
    // The backend and the locker agree on the code set, and the backend saw the pickup.
    const anonymous = await fetch(`${stack.backendUrl!}/lockers/${sim.lockerId}/code-set`);
    expect(anonymous.status).toBe(401);
    const authorised = await fetch(`${stack.backendUrl!}/lockers/${sim.lockerId}/code-set`, { headers: { authorization: `Bearer ${stack.backendApiKey!}` } });
    const codeSet = (await authorised.json()) as Record<string, unknown>;
    expect(codeSet).toMatchObject({ version: 1, ackedVersion: 1, digest: sim.store.codeSetState().digest });
  });

  it('runs offline too: the batch handed over in-process, the doors work the same', async () => {
    const { sim, stack } = await openStack(tempDataDir(), false);
    const result = await runDemoScenario({ sim, source: await stack.demoSource(sim), print: () => undefined });
    expect(result.auditChain.ok).toBe(true);
    expect(sim.store.findEntryByTokenId(result.pickupTokenId)?.state).toBe('collected');
    expect(stack.view.sync()).toBeUndefined();
  });

  it('never writes the customer code or a token into the audit log', async () => {
    const { sim, stack } = await openStack(tempDataDir());
    const result = await runDemoScenario({ sim, source: await stack.demoSource(sim), print: () => undefined });
    const allAudit = sim.store.database.prepare<[], { data_json: string }>('SELECT data_json FROM audit_log').all().map((r) => r.data_json).join('\n');
    expect(allAudit).not.toContain(result.code);
    expect(allAudit).not.toContain('v4.public.');
  });

  it('resumes on the same data dir after a restart, and the collected code never opens again', async () => {
    const dir = tempDataDir();
    const first = await openStack(dir);
    const result = await runDemoScenario({ sim: first.sim, source: await first.stack.demoSource(first.sim), print: () => undefined });
    await first.stack.stop();
    await first.sim.stop();

    const second = await openStack(dir);
    expect(second.sim.store.codeSetState().version).toBe(1);
    expect(second.sim.store.findEntryByTokenId(result.pickupTokenId)?.state).toBe('collected');
    const refused = nextEvent(second.sim.events, isDisplay('error'), 'the refusal');
    second.sim.control.keypad.press(`${result.code}#`);
    await refused;
    expect(second.sim.control.pulses()).toEqual([]);

    // The demo runs again on the resumed locker, on top of the persisted version.
    const again = await runDemoScenario({ sim: second.sim, source: await second.stack.demoSource(second.sim), print: () => undefined });
    expect(again.auditChain.ok).toBe(true);
    expect(second.sim.store.codeSetState().version).toBe(2);
  });
});

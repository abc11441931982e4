import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@locker/device/logger.js';
import { executeCommand } from './command-executor.js';
import { parseCommand } from './commands.js';
import { openLockerSim, type DeviceRuntime, type LockerSim } from './locker-sim.js';
import { parseSimConfig } from './sim-config.js';
import { dataDirPaths } from './data-dir.js';
import { createSimStack } from './sim-stack.js';
import { formatEvent } from './event-format.js';

// The locker's composition without a runtime in it: a runtime that only records its
// lifecycle, so these tests pin what the simulator itself owns (data dir, store, drivers,
// shutdown, console commands on the simulated world).

const dirs: string[] = [];
const sims: LockerSim[] = [];

afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function lifecycle(): DeviceRuntime & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    start: () => Promise.resolve(void calls.push('start')),
    stop: () => Promise.resolve(void calls.push('stop')),
  };
}

async function open(dataDir?: string, runtime = lifecycle()) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'locker-sim-'));
  if (dataDir === undefined) dirs.push(dir);
  const sim = await openLockerSim({ config: parseSimConfig({}), dataDir: dir, logger: silentLogger(), createRuntime: () => runtime });
  sims.push(sim);
  return { sim, dir, runtime };
}

async function run(sim: LockerSim, line: string): Promise<string[]> {
  const printed: string[] = [];
  const parsed = parseCommand(line);
  if (!parsed.ok || parsed.command === undefined) throw new Error(`bad test line ${line}`);
  await executeCommand(parsed.command, { sim, print: (l) => printed.push(l) });
  return printed;
}

describe('locker simulator', () => {
  it('creates a 12-compartment locker with its database and a private code pepper in the data dir', async () => {
    const { sim } = await open();
    expect(sim.store.listCompartments().map((c) => `${c.id}:${c.size}`)).toEqual([
      'A01:S', 'A02:S', 'A03:S', 'A04:S', 'A05:M', 'A06:M', 'A07:M', 'A08:M', 'A09:L', 'A10:L', 'A11:L', 'A12:XL',
    ]);
    expect(statSync(sim.paths.database).isFile()).toBe(true);
    expect(statSync(sim.paths.codePepper).mode & 0o777).toBe(0o600);
    expect(sim.hardware.kind).toBe('simulated');
  });

  it('starts and stops the runtime once, and stopping twice is safe', async () => {
    const { sim, runtime } = await open();
    await sim.start();
    await sim.stop();
    await sim.stop();
    expect(runtime.calls).toEqual(['start', 'stop']);
  });

  it('switches every relay off and closes the database on stop', async () => {
    const { sim } = await open();
    await sim.start();
    void sim.hardware.relays.pulse('A01', 1_000).catch(() => undefined);
    expect(sim.control.energised('A01')).toBe(true);
    await sim.stop();
    expect(sim.control.energised('A01')).toBe(false);
    expect(sim.store.database.open).toBe(false);
  });

  it('resumes from the persisted state when reopened on the same data dir', async () => {
    const first = await open();
    first.sim.store.setCompartmentStatus('A05', 'occupied', { parcelId: 'PCL-RESUME' });
    first.sim.store.appendAudit('device.stopped', 'normal', {});
    await first.sim.stop();
    const second = await open(first.dir);
    expect(second.sim.store.getCompartment('A05')).toMatchObject({ status: 'occupied', parcelId: 'PCL-RESUME' });
    expect(second.sim.store.auditHighWatermark()).toBeGreaterThanOrEqual(1);
    expect(second.sim.store.verifyAuditChain().ok).toBe(true);
  });

  it('reports relay pulses and door changes as events, one line each', async () => {
    const { sim } = await open();
    const lines: string[] = [];
    sim.events.on((e) => {
      const line = formatEvent(e);
      if (line !== undefined) lines.push(line);
    });
    await sim.hardware.relays.pulse('A03', 20);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(lines.some((l) => /relay +A03 on for 20 ms: latch released/.test(l))).toBe(true);
    expect(lines.some((l) => /door +A03 is open/.test(l))).toBe(true);
  });

  it('announces a dead relay once, as the fault it is, and never as a pulse that released the latch', async () => {
    const { sim } = await open();
    const lines: string[] = [];
    sim.events.on((e) => {
      const line = formatEvent(e);
      if (line !== undefined) lines.push(line);
    });
    sim.control.injectFault('A09', 'relay-dead');
    await expect(sim.hardware.relays.pulse('A09', 500)).rejects.toThrow();
    expect(lines.filter((l) => l.includes('A09'))).toEqual([expect.stringMatching(/FAULT +relay A09 could not be energised: the latch stayed shut \(relay fault\)$/)]);
    expect(sim.events.history().some((e) => e.type === 'pulse')).toBe(false);
  });

  it('says at the pulse that a jammed door cannot open, instead of going quiet', async () => {
    const { sim } = await open();
    const lines: string[] = [];
    sim.events.on((e) => {
      const line = formatEvent(e);
      if (line !== undefined) lines.push(line);
    });
    sim.control.injectFault('A05', 'door-jammed');
    await sim.hardware.relays.pulse('A05', 20);
    expect(lines).toContainEqual(expect.stringMatching(/relay +A05 on for 20 ms: energised, but the door cannot open \(injected fault\)$/));
    expect(lines.some((l) => /door +A05 is open/.test(l))).toBe(false);
  });

  it('lets the console pull, close and jam doors, and refuses an unknown compartment', async () => {
    const { sim } = await open();
    expect(await run(sim, 'open A01')).toEqual(['A01: the door does not move (latched or jammed)']);
    await run(sim, 'fault A02 door-jammed');
    expect(sim.control.faults('A02')).toEqual(['door-jammed']);
    await run(sim, 'clear-fault A02');
    expect(sim.control.faults('A02')).toEqual([]);
    await run(sim, 'auto-open off A04');
    expect(sim.control.behaviour('A04').autoOpenOnPulse).toBe(false);
    await expect(run(sim, 'open Z99')).rejects.toThrow(/no compartment Z99/);
  });

  it('prints a status with every compartment, the code-set version and the audit watermark', async () => {
    const { sim } = await open();
    const status = (await run(sim, 'status')).join('\n');
    expect(status).toMatch(/A12 +XL +free +closed/);
    expect(status).toMatch(/code set: version 0/);
    expect(status).toMatch(/audit: \d+ records written/);
    expect((await run(sim, 'audit 5')).at(-1)).toMatch(/audit chain: VALID/);
  });

  it('never echoes the keys typed on the keypad', async () => {
    const { sim } = await open();
    const printed = await run(sim, 'keys 73921845#');
    expect(printed.join('\n')).not.toContain('73921845');
  });

  it("returns a compartment to service with 'service A03 on' on the real runtime, audited in the priority lane", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'locker-sim-'));
    dirs.push(dir);
    const config = parseSimConfig({});
    const stack = await createSimStack({ config, paths: dataDirPaths(dir), logger: silentLogger(), sync: false, say: () => undefined });
    const sim = await openLockerSim({ config, dataDir: dir, logger: silentLogger(), createRuntime: stack.createRuntime });
    sims.push(sim);
    await sim.start();
    expect(await run(sim, 'service A03 off')).toEqual(['A03: now out-of-service']);
    sim.store.recordCompartmentFailure('A03');
    expect(await run(sim, 'service A03 on')).toEqual(['A03: now free']);
    expect(sim.store.getCompartment('A03')).toMatchObject({ status: 'free', failureCount: 0 });
    expect(await run(sim, 'service A03 on')).toEqual(['A03: already free']);
    const priority = sim.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 }).map((r) => r.type);
    expect(priority).toEqual(expect.arrayContaining(['compartment.out-of-service', 'compartment.in-service']));
    await expect(run(sim, 'service Z99 on')).rejects.toThrow(/no compartment Z99/);
  });

  it("says so when the runtime cannot change the service state", async () => {
    const { sim } = await open();
    expect(await run(sim, 'service A01 on')).toEqual(['this runtime cannot change the service state']);
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { FleetSummary } from './fleet-summary.js';

// The fleet as a person runs it: `tsx simulator/fleet/main.ts` in its own process, six
// real lockers in two workers, an embedded broker and backend, a few seconds of load.

const main = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'fleet-test-'));
const running = new Set<ChildProcess>();

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpExecArray>;
}

function runFleet(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  running.add(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => running.delete(child));
  return {
    child,
    output: () => out,
    exited,
    waitFor: async (pattern, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(out);
        if (m !== null) return m;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${String(pattern)} in fleet output:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(alive);
}

const workerPids = (m: RegExpExecArray): number[] => (m[1] ?? '').trim().split(/\s+/).map(Number);

afterEach(() => {
  for (const c of running) c.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run fleet', () => {
  it('drives deposits and pickups on six lockers in two workers and reports nothing lost, duplicated or failed', async () => {
    const summaryPath = join(dir, 'summary.json');
    const run = runFleet(['--lockers', '6', '--workers', '2', '--rate', '6', '--duration', '3', '--report-every', '1', '--summary-json', summaryPath]);
    const code = await run.exited;
    const out = run.output();
    expect(code, out).toBe(0);
    // Live figures while it ran (no terminal here: periodic lines).
    expect(out).toMatch(/^fleet t=\d+s online=6\/6 ops=\d+ errors=0 keypad_p50=[\d.]+ms keypad_p99=[\d.]+ms api_p50=[\d.]+ms api_p99=[\d.]+ms$/m);
    expect(out).toContain('fleet result: OK');
    const s = JSON.parse(readFileSync(summaryPath, 'utf8')) as FleetSummary;
    expect(s.lockers).toBe(6);
    expect(s.workers).toBe(2);
    expect(s.lockersOnline).toBe(6);
    expect(s.parcels.started).toBeGreaterThanOrEqual(6);
    expect(s.parcels.failed).toBe(0);
    expect(s.parcels.collected).toBe(s.parcels.started);
    expect(s.ops).toMatchObject({ deposits: s.parcels.started, pickups: s.parcels.started, failed: 0 });
    expect(s.latencyMs.keypadToRelay.n).toBe(s.parcels.started);
    expect(s.latencyMs.keypadToRelay.p99).toBeGreaterThanOrEqual(0);
    // placed, payment confirmed, ready for pickup, collected: four per parcel, each once.
    expect(s.notifications).toMatchObject({ expected: 4 * s.parcels.started, got: 4 * s.parcels.started, lost: 0, duplicated: 0, rejected: 0 });
    expect(s.audit.written).toBeGreaterThan(0);
    expect(s.audit).toMatchObject({ acked: s.audit.written, ingested: s.audit.written, lost: 0, duplicated: 0 });
    expect(s.ok).toBe(true);
  }, 60_000);

  it('stops its workers and their lockers on SIGTERM mid-load, leaving no process behind', async () => {
    const run = runFleet(['--lockers', '4', '--workers', '2', '--rate', '4', '--duration', '60', '--report-every', '1']);
    const pids = workerPids(await run.waitFor(/workers started: pids ([\d ]+)\n/));
    expect(pids).toHaveLength(2);
    await run.waitFor(/^fleet t=\d+s .*ops=[1-9]/m);
    run.child.kill('SIGTERM');
    expect(await run.exited, run.output()).toBe(143);
    expect(run.output()).toMatch(/fleet: interrupted by SIGTERM/);
    expect(run.output()).toMatch(/^fleet summary \(interrupted\): 4 lockers in 2 worker\(s\)/m);
    expect(run.output()).toContain('fleet: stopped (workers exited, broker and backend closed)');
    expect(await gone(pids, 1_000)).toEqual([]);
  }, 60_000);

  it('stops what it has built on SIGTERM while starting, without starting the lockers', async () => {
    const run = runFleet(['--lockers', '4', '--workers', '2', '--rate', '4', '--duration', '60', '--report-every', '1']);
    // The broker is up; the backend, the registrations and the workers are still to come.
    await run.waitFor(/embedded MQTT broker \(aedes\) on \S+\n/);
    run.child.kill('SIGTERM');
    expect(await run.exited, run.output()).toBe(143);
    const out = run.output();
    expect(out).toContain('fleet: interrupted by SIGTERM while starting');
    expect(out).toContain('fleet: stopped (workers exited, broker and backend closed)');
    expect(out).not.toMatch(/lockers running in|lockers online at the backend|fleet\.failed|fleet\.stop_step_failed/);
    const started = /workers started: pids ([\d ]+)\n/.exec(out);
    if (started !== null) expect(await gone(workerPids(started), 1_000)).toEqual([]);
  }, 60_000);

  it('workers stop by themselves when the parent dies without stopping them', async () => {
    // In the test's dir: a SIGKILLed parent cannot remove its own temp dir.
    const run = runFleet(['--lockers', '2', '--workers', '2', '--rate', '2', '--duration', '60', '--report-every', '1', '--data-dir', join(dir, 'killed-parent')]);
    const pids = workerPids(await run.waitFor(/workers started: pids ([\d ]+)\n/));
    await run.waitFor(/lockers running in 2 worker/);
    run.child.kill('SIGKILL');
    await run.exited;
    expect(await gone(pids, 15_000)).toEqual([]);
  }, 60_000);
});

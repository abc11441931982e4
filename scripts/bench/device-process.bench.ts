// The compiled device as the board runs it: `npx tsx scripts/bench/device-process.bench.ts`.
// Builds device/dist (npm run build device), seeds a database with 100,000 live codes,
// then spawns `node <flags> device/dist/main.js <config>` five times with NOTIFY_SOCKET on a
// fake receiver (socat, as in the systemd tests). Prints `name: value unit` lines:
//   device_cold_start_ms          spawn → READY=1, median of 5, with the unit's node flags
//   device_rss_mb                 VmRSS after READY + 3 s idle, median of 5, the unit's flags
//   device_cold_start_ms_no_flags / device_rss_mb_no_flags    the same with plain `node`
// The flags are read from device/deploy/locker-device.service, so the figure is what ships.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeNotifySocket, hasSocat, tempDir, waitFor } from '@locker/device/systemd/process-harness.js';
import { buildProgram } from '../build.js';
import { unitNodeFlags } from '../build/unit-node-flags.js';
import { median, print } from './bench-kit.js';
import { seedLiveCodes, seededConfigFields } from './seed-live-codes.js';

const CODES = 100_000;
const SPAWNS = 5;
const IDLE_MS = 3_000;
const LOCKER = 'locker-bench-proc';
const PEPPER = new Uint8Array(32).fill(5);
const ids = Array.from({ length: 40 }, (_, i) => `A${String(i).padStart(2, '0')}`);

function vmRssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for ${String(pid)}`);
  return Number(match[1]) / 1024;
}

interface Sample {
  coldStartMs: number;
  rssMb: number;
}

async function spawnOnce(main: string, flags: readonly string[], config: string, dir: string, n: number): Promise<Sample> {
  const socket = await FakeNotifySocket.open(join(dir, `notify-${String(n)}`));
  const t0 = Date.now();
  // stdout to /dev/null: the journal's pipe costs about the same, and the logs are not the figure.
  const child = spawn(process.execPath, [...flags, main, config], {
    env: { ...process.env, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '20000000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  try {
    await waitFor(() => socket.count('READY=1') > 0 || exited, 'READY=1', 60_000);
    if (exited) throw new Error(`the device exited before READY: ${stderr.slice(0, 2000)}`);
    const readyAt = socket.received.find((d) => d.text === 'READY=1')?.at ?? Date.now();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return { coldStartMs: readyAt - t0, rssMb: vmRssMb(child.pid ?? -1) };
  } finally {
    if (!exited) {
      child.kill('SIGTERM');
      await waitFor(() => exited, 'the device to stop', 30_000);
    }
    socket.close();
  }
}

async function measure(main: string, flags: readonly string[], config: string, dir: string, suffix: string): Promise<void> {
  const samples: Sample[] = [];
  // One unmeasured start first: it warms the page cache for node, the bundle and the database.
  await spawnOnce(main, flags, config, dir, -1);
  for (let i = 0; i < SPAWNS; i++) samples.push(await spawnOnce(main, flags, config, dir, i));
  print(`device_cold_start_ms${suffix}`, Math.round(median(samples.map((s) => s.coldStartMs))), 'ms');
  print(`device_rss_mb${suffix}`, Number(median(samples.map((s) => s.rssMb)).toFixed(1)), 'MB');
}

async function main(): Promise<void> {
  if (!hasSocat) throw new Error('this benchmark needs socat (the fake NOTIFY_SOCKET)');
  const built = await buildProgram('device');
  const entry = built.entries['main'];
  if (entry === undefined) throw new Error('the device build has no main entry');
  const unit = readFileSync(join(import.meta.dirname, '..', '..', 'device', 'deploy', 'locker-device.service'), 'utf8');
  const flags = unitNodeFlags(unit);
  const tmp = tempDir('bench-device-process-');
  try {
    const dbPath = join(tmp.dir, 'device.db');
    await seedLiveCodes({ dbPath, lockerId: LOCKER, pepper: PEPPER, compartmentIds: ids, count: CODES, nowMs: Date.now() });
    writeFileSync(join(tmp.dir, 'pepper'), Buffer.from(PEPPER).toString('hex'));
    const config = join(tmp.dir, 'device.json');
    writeFileSync(config, JSON.stringify({ ...seededConfigFields({ lockerId: LOCKER, compartmentIds: ids }), codePepperFile: join(tmp.dir, 'pepper'), dbPath, logLevel: 'info' }));
    process.stdout.write(`# node flags from the unit: ${flags.join(' ') || '(none)'}\n`);
    await measure(entry, flags, config, tmp.dir, '');
    await measure(entry, [], config, tmp.dir, '_no_flags');
  } finally {
    tmp.cleanup();
  }
}

await main();

import { openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import { cryptoRandom } from '@locker/hal/random.js';
import { createSimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import { parseDeviceConfig } from '../config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { silentLogger } from '../logger.js';
import { LockerRuntime } from '../runtime/locker-runtime.js';
import { runtimeConfigFrom } from '../runtime/runtime-config.js';
import { openDeviceStore } from '../store/device-store.js';

// Child process of door-cycle-crash.test.ts: runs the real runtime on simulated hardware
// with the system clock and drives remote-open door cycles against a real SQLite file
// until the parent SIGKILLs it. Every pulse is appended to pulses.log with fs.writeSync
// BEFORE the relay is driven, so the parent knows every pulse that may have happened.
// Transaction ids repeat across runs (tx-0, tx-1, …): a restart must never pulse again
// for a transaction that already has a pulse.

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: door-cycle-child.ts <dir>');
const ids = ['A01', 'A02', 'A03', 'A04'];
const pulseLog = openSync(join(dir, 'pulses.log'), 'a');
const clock = new SystemClock();
const logger = silentLogger();
const config = parseDeviceConfig({
  lockerId: 'locker-crash-1',
  compartments: ids.map((id) => ({ id, size: 'M' })),
  codePepperFile: '/unused',
  dbPath: join(dir, 'device.db'),
  timeouts: { pulseMs: 15, doorOpenWaitMs: 500 },
  hardware: { kind: 'simulated', compartments: ids.map((id) => ({ id })) },
});
const { hardware } = createSimulatedHardware({
  compartments: ids.map((id) => ({ id })),
  clock,
  debounceMs: 2,
  defaultBehaviour: { autoOpenOnPulse: true, autoCloseAfterMs: 10 },
});
let now = (): number => Math.floor(clock.now());
const store = openDeviceStore({ path: config.dbPath, lockerId: config.lockerId, logger, now: () => now() });
const runtime = new LockerRuntime({
  hardware,
  store,
  ed25519: createEd25519('node-crypto'),
  config: runtimeConfigFrom(config, new Uint8Array(32).fill(1)),
  logger,
  clock,
  random: cryptoRandom(),
  beforePulse: (compartmentId, opId) => {
    writeSync(pulseLog, `${opId} ${compartmentId}\n`);
  },
});
now = () => runtime.trustedNow();
await runtime.start();
process.stdout.write('ready\n');

const port = runtime.syncPort();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
for (let n = 0; ; n++) {
  const tx = `tx-${String(n)}`;
  for (;;) {
    const known = store.loadState(`remote-open:${tx}`) !== undefined;
    const result = await port.remoteOpen(tx, ids[n % ids.length] ?? 'A01', 'crash-test');
    if (result.outcome !== 'busy' || known) break;
    await sleep(2);
  }
}

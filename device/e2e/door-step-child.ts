import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenStep } from '../runtime/door-controller.js';
import { Harness } from './harness.js';

// Child process of door-step-crash.test.ts: the real runtime on simulated hardware with a
// FakeClock and a real SQLite file. It deposits one parcel, writes its QR token to
// parcel.json, scans it, and at the chosen step of that one open either cuts the power
// (SIGKILL of itself, inside the step: deterministic, not timing luck) or stops the way
// device/main.ts does on SIGTERM (runtime.stop, hardware.close, store.close; exit 0).
// 'stop-stuck' is a stop while nobody pulls the door, so the open is still undecided when
// the stop's bounded wait ends. 'journaled' is also reported through beforePulse (the same
// point: journal committed, relay not yet driven), so the child runs on the pre-fix runtime.

const [dir, step, mode] = process.argv.slice(2) as [string | undefined, OpenStep | undefined, string | undefined];
if (dir === undefined || step === undefined || (mode !== 'kill' && mode !== 'stop' && mode !== 'stop-stuck')) {
  throw new Error('usage: door-step-child.ts <dir> <step> kill|stop|stop-stuck');
}

let fired = false;
let stopped = false;
const hit = (at: OpenStep): void => {
  if (at !== step || fired) return;
  fired = true;
  process.stdout.write(`step ${at}\n`);
  if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
  // A signal handler runs after the current task: the nearest point is a microtask.
  else queueMicrotask(() => void stop());
};
const h = new Harness({ dir, openStep: (at) => hit(at), beforePulse: () => hit('journaled') });

async function stop(): Promise<void> {
  await h.runtime.stop();
  await h.sim.hardware.close();
  h.store.close();
  stopped = true;
}

await h.start();
const parcel = h.addParcel({ parcelId: 'P-STEP', compartmentId: 'A02', code: '27182818' });
h.deposit(parcel);
writeFileSync(join(dir, 'parcel.json'), JSON.stringify({ tokenId: parcel.tokenId, token: parcel.token }));
if (mode === 'stop-stuck') h.control.setBehaviour('A02', { autoOpenOnPulse: false });
await h.scan(parcel.token);
for (let i = 0; i < 2_000 && !stopped; i++) await h.advance(10);
process.stdout.write(stopped ? 'stopped\n' : `step ${step} never reached\n`);
process.exit(stopped ? 0 : 3);

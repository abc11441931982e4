import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenStep } from '../runtime/door-controller.js';
import { Harness } from './harness.js';

// Child process of courier-step-crash.test.ts: the real runtime on simulated hardware with a
// FakeClock and a real SQLite file. A courier scans the credential and a parcel; at the
// chosen step of that deposit's open the child cuts the power (SIGKILL of itself, inside
// the step). 'relay-off' comes 450 ms after the simulated door opened: the courier is at
// the open door, the deposit not yet confirmed.

const [dir, step] = process.argv.slice(2) as [string | undefined, OpenStep | undefined];
if (dir === undefined || step === undefined) throw new Error('usage: courier-step-child.ts <dir> <step>');

const hit = (at: OpenStep): void => {
  if (at !== step) return;
  process.stdout.write(`step ${at}\n`);
  process.kill(process.pid, 'SIGKILL');
};
const h = new Harness({ dir, openStep: (at) => hit(at) });
await h.start();
await h.scan(h.token('courier', { sub: 'courier-1' }).token);
const parcel = h.addParcel({ parcelId: 'P-CRASH', compartmentId: 'A02', code: '31415926' });
writeFileSync(join(dir, 'parcel.json'), JSON.stringify({ tokenId: parcel.tokenId }));
await h.scan('P-CRASH');
for (let i = 0; i < 200; i++) await h.advance(10);
process.stdout.write(`step ${step} never reached\n`);
process.exit(3);

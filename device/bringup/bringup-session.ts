import { isHalError } from '@locker/hal/hal-error.js';
import type { SerialPortListing } from '@locker/hal/real/list-serial-ports.js';
import type { Clock, KeyPress, LockerHardware, Unsubscribe } from '@locker/hal/types.js';
import { isYes, type Prompter } from './prompter.js';
import type { CheckResult } from './result-table.js';

// The bring-up checks a technician runs at a new locker, in order: serial ports, each relay
// (pulsed only after a yes), each door sensor, the keypad, the scanner. Every check ends in
// a row of the result table; nothing here throws on a hardware fault, it records it.

export interface BringupOptions {
  hardware: LockerHardware;
  prompter: Prompter;
  clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  listPorts: () => Promise<SerialPortListing>;
  /** Serial device paths the config names (real hardware); each must be present. */
  expectedPorts: readonly string[];
  pulseMs: number;
  /** How long to wait for keypad and scanner input. */
  inputWaitMs: number;
}

export async function runBringup(options: BringupOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  results.push(...(await checkSerialPorts(options)));
  for (const id of options.hardware.relays.compartments()) results.push(await checkRelay(options, id));
  for (const id of options.hardware.doors.compartments()) results.push(await checkDoor(options, id));
  results.push(await checkKeypad(options));
  results.push(await checkScanner(options));
  return results;
}

async function checkSerialPorts({ prompter, listPorts, expectedPorts }: BringupOptions): Promise<CheckResult[]> {
  const listing = await listPorts();
  prompter.say(`Serial ports (${listing.source === 'udev' ? 'from udev' : `from /dev: ${listing.fallbackReason ?? 'udev unavailable'}`}):`);
  if (listing.ports.length === 0) prompter.say('  (none)');
  for (const p of listing.ports) prompter.say(`  ${p.path}${p.description === undefined ? '' : `  ${p.description}`}`);
  const found = new Set(listing.ports.map((p) => p.path));
  const rows: CheckResult[] = [{ check: 'serial ports', status: 'info', detail: `${String(listing.ports.length)} found (${listing.source})` }];
  for (const path of expectedPorts) {
    rows.push({ check: `port ${path}`, status: found.has(path) ? 'pass' : 'fail', detail: found.has(path) ? 'present' : 'not found: check the cable and the config' });
  }
  return rows;
}

async function checkRelay({ hardware, prompter, pulseMs }: BringupOptions, id: string): Promise<CheckResult> {
  const check = `relay ${id}`;
  const answer = await prompter.ask(`Pulse the relay of ${id} now (the door may open)? [y/N]`);
  if (!isYes(answer)) return { check, status: 'skipped', detail: 'not confirmed' };
  prompter.say(`  pulsing ${id} for ${String(pulseMs)} ms…`);
  try {
    await hardware.relays.pulse(id, pulseMs);
  } catch (error) {
    return { check, status: 'fail', detail: isHalError(error) ? `${error.code}: ${error.message}` : String(error) };
  }
  const released = await prompter.ask(`  Did the lock of ${id} click or release? [y/n]`);
  return isYes(released) ? { check, status: 'pass', detail: `pulsed ${String(pulseMs)} ms, release seen` } : { check, status: 'fail', detail: 'pulsed, but no release seen' };
}

async function checkDoor({ hardware, prompter }: BringupOptions, id: string): Promise<CheckResult> {
  const check = `door ${id}`;
  const state = hardware.doors.read(id);
  if (state === 'unknown') return { check, status: 'fail', detail: 'sensor reads unknown (dead, disconnected or bouncing)' };
  const right = await prompter.ask(`Door ${id} reads ${state.toUpperCase()}. Is that right? [y/n]`);
  return isYes(right) ? { check, status: 'pass', detail: `reads ${state}` } : { check, status: 'fail', detail: `reads ${state}, technician says otherwise` };
}

/** Resolves with what `collect` produced once it calls done(), or at the timeout. */
function collectUntil<T>(clock: BringupOptions['clock'], ms: number, start: (done: () => void) => Unsubscribe[], result: () => T): Promise<{ value: T; timedOut: boolean }> {
  return new Promise((resolve) => {
    let unsubscribes: Unsubscribe[] = [];
    let finished = false;
    const finish = (timedOut: boolean): void => {
      if (finished) return;
      finished = true;
      clock.clearTimeout(timer);
      for (const u of unsubscribes) u();
      resolve({ value: result(), timedOut });
    };
    const timer = clock.setTimeout(() => finish(true), ms);
    unsubscribes = start(() => finish(false));
  });
}

async function checkKeypad({ hardware, prompter, clock, inputWaitMs }: BringupOptions): Promise<CheckResult> {
  prompter.say(`Press a few keys on the keypad, then Enter on the keypad (${String(Math.round(inputWaitMs / 1000))} s).`);
  const keys: KeyPress['key'][] = [];
  let rejected = 0;
  const { timedOut } = await collectUntil(clock, inputWaitMs, (done) => [
    hardware.keypad.onKey((press) => {
      keys.push(press.key);
      prompter.say(`  key: ${press.key}`);
      if (press.key === 'enter') done();
    }),
    hardware.keypad.onRejected((r) => {
      rejected += 1;
      prompter.say(`  keypad input rejected: ${r.reason} (${String(r.length)} bytes)`);
    }),
  ], () => undefined);
  const detail = `${String(keys.length)} keys${rejected > 0 ? `, ${String(rejected)} rejected` : ''}`;
  if (!timedOut) return { check: 'keypad', status: 'pass', detail };
  return { check: 'keypad', status: 'fail', detail: `no Enter within ${String(inputWaitMs)} ms (${detail})` };
}

async function checkScanner({ hardware, prompter, clock, inputWaitMs }: BringupOptions): Promise<CheckResult> {
  prompter.say(`Scan any barcode or QR code (${String(Math.round(inputWaitMs / 1000))} s).`);
  let length = 0;
  let rejected = 0;
  const { timedOut } = await collectUntil(clock, inputWaitMs, (done) => [
    hardware.scanner.onScan((scan) => {
      length = scan.data.length;
      // A customer's token could be scanned by mistake: echo only its start.
      prompter.say(`  scan: ${String(length)} characters, starting "${scan.data.slice(0, 8)}"`);
      done();
    }),
    hardware.scanner.onRejected((r) => {
      rejected += 1;
      prompter.say(`  scanner input rejected: ${r.reason} (${String(r.length)} bytes)`);
    }),
  ], () => undefined);
  if (!timedOut) return { check: 'scanner', status: 'pass', detail: `one scan of ${String(length)} characters` };
  return { check: 'scanner', status: 'fail', detail: `no scan within ${String(inputWaitMs)} ms${rejected > 0 ? ` (${String(rejected)} rejected)` : ''}` };
}

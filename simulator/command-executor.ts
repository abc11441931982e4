import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from './commands.js';
import { helpText } from './commands.js';
import type { LockerSim } from './locker-sim.js';
import type { ParcelDesk } from './parcel-desk.js';
import { auditChainReport, auditReport, displayReport, statusReport, type RuntimeView } from './status-report.js';

// Carries out one console command on the simulated world: what a person at the locker,
// or a technician with a screwdriver, would do. The runtime reacts through the drivers;
// its reactions reach the console as events (sim-events.ts), not as return values here.

export type CommandOutcome = 'continue' | 'quit';

export interface CommandContext {
  sim: LockerSim;
  print: (line: string) => void;
  view?: RuntimeView;
  desk?: ParcelDesk;
}

function requireCompartment(sim: LockerSim, id: string): void {
  if (!sim.control.compartmentIds().includes(id)) {
    throw new UnknownCompartmentError(`no compartment ${id} (this locker has ${sim.control.compartmentIds().join(' ')})`);
  }
}

export class UnknownCompartmentError extends Error {
  override readonly name = 'UnknownCompartmentError';
}

function targets(sim: LockerSim, id: string | undefined): readonly string[] {
  if (id === undefined) return sim.control.compartmentIds();
  requireCompartment(sim, id);
  return [id];
}

export async function executeCommand(command: Command, context: CommandContext): Promise<CommandOutcome> {
  const { sim, print } = context;
  const { control } = sim;
  switch (command.name) {
    case 'keys':
      // Echo the number of keys, not the keys: the console may be screen-shared or logged.
      print(`keypad: ${String(command.keys.length)} key(s) pressed`);
      control.keypad.press(command.keys);
      return 'continue';
    case 'scan':
      print(`scanner: ${String(command.text.length)} characters scanned`);
      control.scanner.scan(command.text);
      return 'continue';
    case 'open': {
      requireCompartment(sim, command.compartmentId);
      const open = control.pullDoor(command.compartmentId);
      print(open ? `${command.compartmentId}: the door is open` : `${command.compartmentId}: the door does not move (latched or jammed)`);
      return 'continue';
    }
    case 'close':
      requireCompartment(sim, command.compartmentId);
      control.closeDoor(command.compartmentId);
      print(`${command.compartmentId}: door pushed shut`);
      return 'continue';
    case 'fault':
      requireCompartment(sim, command.compartmentId);
      control.injectFault(command.compartmentId, command.fault);
      print(`${command.compartmentId}: fault ${command.fault} injected`);
      return 'continue';
    case 'clear-fault':
      requireCompartment(sim, command.compartmentId);
      control.clearFault(command.compartmentId, command.fault);
      print(`${command.compartmentId}: ${command.fault ?? 'all faults'} cleared`);
      return 'continue';
    case 'auto-open':
      for (const id of targets(sim, command.compartmentId)) control.setBehaviour(id, { autoOpenOnPulse: command.enabled });
      print(`auto-open ${command.enabled ? 'on' : 'off'} for ${command.compartmentId ?? 'every compartment'}`);
      return 'continue';
    case 'auto-close':
      for (const id of targets(sim, command.compartmentId)) control.setBehaviour(id, { autoCloseAfterMs: command.afterMs });
      print(`auto-close ${command.afterMs === undefined ? 'off' : `after ${String(command.afterMs)} ms`} for ${command.compartmentId ?? 'every compartment'}`);
      return 'continue';
    case 'noise':
      if (command.source === 'scanner') control.scanner.injectNoise(16);
      else control.keypad.injectBytes(Uint8Array.of(0xff, 0x00, 0x7f, 0x80));
      print(`${command.source}: line noise injected`);
      return 'continue';
    case 'parcel':
      if (context.desk === undefined) throw new Error('no backend side in this session');
      await context.desk.newParcel(command.size);
      return 'continue';
    case 'courier':
      if (context.desk?.scanCourierCredential() !== true) print("no courier credential yet: create a parcel with 'parcel' first");
      else print('scanner: courier credential scanned');
      return 'continue';
    case 'qr': {
      const scanned = context.desk?.scanCustomerQr(command.parcelId);
      print(scanned === undefined ? "no pickup notice yet: 'parcel', deposit it, then 'qr'" : `scanner: the customer's QR code for ${scanned} scanned`);
      return 'continue';
    }
    case 'service': {
      requireCompartment(sim, command.compartmentId);
      const change = sim.runtime.setCompartmentService?.(command.compartmentId, command.inService, 'console');
      if (change === undefined) print('this runtime cannot change the service state');
      else if (change.outcome === 'unknown-compartment') print(`${command.compartmentId}: the locker does not know this compartment`);
      else print(`${command.compartmentId}: ${change.outcome === 'changed' ? 'now' : 'already'} ${change.status}${command.inService && change.status === 'occupied' ? ' (a parcel is inside)' : ''}`);
      return 'continue';
    }
    case 'wait':
      await sleep(command.ms);
      return 'continue';
    case 'status':
      for (const line of await statusReport(sim, context.view)) print(line);
      return 'continue';
    case 'display':
      for (const line of displayReport(sim, command.count)) print(line);
      return 'continue';
    case 'audit':
      for (const line of auditReport(sim, command.count)) print(line);
      print(auditChainReport(sim));
      return 'continue';
    case 'help':
      print('commands:');
      print(helpText());
      return 'continue';
    case 'quit':
      return 'quit';
  }
}

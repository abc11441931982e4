import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from './commands.js';
import { helpText } from './commands.js';
import type { LockerSim } from './locker-sim.js';
import type { LockerNode } from './locker-node.js';
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
  /** The locker in its session: clock, network, power, events. Absent for a bare LockerSim. */
  node?: LockerNode;
  /** Session-wide answers ('lockers'). */
  session?: { lockerLines(): string[] };
}

function requireNode(context: CommandContext, what: string): LockerNode {
  if (context.node === undefined) throw new Error(`${what} needs a simulator session`);
  return context.node;
}

function requireDesk(context: CommandContext): ParcelDesk {
  if (context.desk === undefined) throw new Error('no backend side in this session');
  return context.desk;
}

function fmt(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
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
      context.node?.announce({ type: 'fault', compartmentId: command.compartmentId, fault: command.fault, active: true });
      print(`${command.compartmentId}: fault ${command.fault} injected`);
      return 'continue';
    case 'clear-fault': {
      requireCompartment(sim, command.compartmentId);
      const active = control.faults(command.compartmentId).filter((f) => command.fault === undefined || f === command.fault);
      control.clearFault(command.compartmentId, command.fault);
      for (const fault of active) context.node?.announce({ type: 'fault', compartmentId: command.compartmentId, fault, active: false });
      print(`${command.compartmentId}: ${command.fault ?? 'all faults'} cleared`);
      return 'continue';
    }
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
      await requireDesk(context).newParcel(command.size);
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
    case 'use':
      print("'use' switches the console's locker; here every command already names its locker");
      return 'continue';
    case 'lockers':
      for (const line of context.session?.lockerLines() ?? [`${sim.lockerId} (the only locker)`]) print(line);
      return 'continue';
    case 'clock': {
      const node = requireNode(context, 'the clock');
      if (command.action === 'forward') {
        await node.sessionTime.advance(command.ms);
        node.announce({ type: 'clock', wallMs: node.clock.now(), advancedMs: command.ms });
        print(`time moved forward ${String(command.ms)} ms for every locker and the backend`);
      } else if (command.action === 'wall') {
        node.jumpWall(command.ms);
        print(`${sim.lockerId}: wall clock jumped ${String(command.ms)} ms (device time does not follow a wall jump)`);
      }
      const trusted = sim.runtime.trustedNow?.();
      print(`wall clock ${fmt(node.clock.now())} UTC (skew ${String(node.clock.wallSkew)} ms), session ahead of real time by ${String(Math.round(node.sessionTime.offsetMs))} ms${trusted === undefined ? '' : `, device time ${fmt(trusted)} UTC`}`);
      return 'continue';
    }
    case 'expire': {
      const node = requireNode(context, 'expire');
      const ms = node.expiryAdvanceMs();
      if (ms === undefined) {
        print('no parcel waits for pickup here: nothing to expire');
        return 'continue';
      }
      print(`letting ${(ms / 3_600_000).toFixed(1)} h pass: past every pickup window here plus the device's expiry grace`);
      await node.sessionTime.advance(ms);
      node.announce({ type: 'clock', wallMs: node.clock.now(), advancedMs: ms });
      return 'continue';
    }
    case 'retrieve':
      await requireDesk(context).retrieve(command.parcelId);
      return 'continue';
    case 'return':
      await requireDesk(context).startReturn(command.parcelId);
      return 'continue';
    case 'network':
      print(requireNode(context, 'the network').setNetwork(command.up));
      return 'continue';
    case 'power-cut':
      print(await requireNode(context, 'a power cut').powerCut(command.afterMs, command.offMs));
      return 'continue';
    case 'flood': {
      const node = requireNode(context, 'a keypad flood');
      const codes = node.wrongCodes(command.codes);
      print(`keypad: ${String(codes.length)} wrong codes typed in a burst`);
      for (const code of codes) control.keypad.press(`${code}#`);
      return 'continue';
    }
    case 'service-open':
      requireCompartment(sim, command.compartmentId);
      requireDesk(context).serviceOpen(command.compartmentId);
      print(`scanner: a technician's service credential for ${command.compartmentId} scanned`);
      return 'continue';
    case 'remote-open':
      requireCompartment(sim, command.compartmentId);
      print(await requireDesk(context).remoteOpen(command.compartmentId));
      return 'continue';
    case 'notices': {
      const received = context.desk?.received() ?? [];
      if (received.length === 0) print('(no customer has received anything yet)');
      for (const n of received) print(`${n.parcelId}: ${n.kind} code ${n.code}   (shown only because this is a simulator)`);
      return 'continue';
    }
    case 'help':
      print('commands:');
      print(helpText());
      return 'continue';
    case 'quit':
      return 'quit';
  }
}

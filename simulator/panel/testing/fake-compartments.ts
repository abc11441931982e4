import type { DisplayMessage, PanelEventBody, SimFaultName } from '../panel-events.js';
import type { CompartmentSize, CompartmentView } from '../panel-port.js';

// The compartments of a fake locker bank and their mechanics: a relay pulse that opens the
// door unless a fault blocks it, the alarm and out-of-service a blocked or dead relay
// causes, injected faults and the technician's service switch. Every change is an event.

export interface Compartment {
  id: string;
  size: CompartmentSize;
  door: 'open' | 'closed' | 'unknown';
  relay: boolean;
  status: 'free' | 'occupied' | 'out-of-service';
  parcelId?: string;
  outOfServiceReason?: string;
  faults: Set<SimFaultName>;
}

export interface CompartmentHooks {
  emit(body: PanelEventBody): void;
  audit(auditType: string, data: Record<string, unknown>): void;
  show(message: DisplayMessage): void;
}

const PULSE_MS = 500;

export class FakeCompartments {
  private readonly byId = new Map<string, Compartment>();

  constructor(
    layout: readonly { id: string; size: CompartmentSize }[],
    private readonly hooks: CompartmentHooks,
  ) {
    for (const c of layout) this.byId.set(c.id, { id: c.id, size: c.size, door: 'closed', relay: false, status: 'free', faults: new Set() });
  }

  all(): Compartment[] {
    return [...this.byId.values()];
  }

  /** The compartment by id (any case); a console-style error for an unknown one. */
  get(id: string | undefined): Compartment {
    const c = this.byId.get((id ?? '').toUpperCase());
    if (c === undefined) throw new Error(`no compartment ${id ?? '(none)'} (this locker has ${[...this.byId.keys()].join(' ')})`);
    return c;
  }

  views(): CompartmentView[] {
    return this.all().map((c): CompartmentView => ({
      id: c.id, size: c.size, door: c.door, relay: c.relay, status: c.status, faults: [...c.faults],
      ...(c.parcelId === undefined ? {} : { parcelId: c.parcelId }),
      ...(c.outOfServiceReason === undefined ? {} : { outOfServiceReason: c.outOfServiceReason }),
    }));
  }

  /** A free, healthy compartment of the size other than `except`, for a re-slot. */
  spareFor(except: Compartment): Compartment | undefined {
    return this.all().find((o) => o.size === except.size && o.status === 'free' && o.id !== except.id && o.faults.size === 0);
  }

  /** Power gone: no coil stays energised. */
  relaysOff(): void {
    for (const c of this.byId.values()) c.relay = false;
  }

  /** Pulses the relay; a person pulls the door as soon as the latch releases. Returns whether it opened. */
  pulse(c: Compartment): boolean {
    if (c.faults.has('relay-dead')) {
      this.hooks.emit({ type: 'relay-failed', compartmentId: c.id, energised: false });
      this.raise(c, 'relay-fault');
      return false;
    }
    const blocked = c.faults.has('door-jammed') || c.faults.has('stuck-relay');
    c.relay = true;
    this.hooks.emit({ type: 'relay', compartmentId: c.id, state: 'on', ms: PULSE_MS, latchReleased: !blocked, doorBlocked: blocked });
    if (!blocked) this.setDoor(c, 'open');
    c.relay = false;
    this.hooks.emit({ type: 'relay', compartmentId: c.id, state: 'off' });
    if (blocked) this.raise(c, 'door-jammed');
    return !blocked;
  }

  private raise(c: Compartment, alarm: 'door-jammed' | 'relay-fault'): void {
    this.hooks.audit(alarm === 'door-jammed' ? 'door.jammed' : 'door.relay-fault', { compartmentId: c.id });
    this.hooks.emit({ type: 'alarm', compartmentId: c.id, alarm, active: true });
    this.hooks.show({ tone: 'alarm', text: `Compartment ${c.id} is out of order`, compartmentId: c.id });
    this.setStatus(c, 'out-of-service', alarm);
    this.hooks.emit({ type: 'alarm', compartmentId: c.id, alarm: 'out-of-service', active: true, detail: alarm });
  }

  setStatus(c: Compartment, status: Compartment['status'], reason?: string): void {
    c.status = status;
    if (status === 'out-of-service' && reason !== undefined) c.outOfServiceReason = reason;
    else delete c.outOfServiceReason;
    this.hooks.emit({ type: 'compartment', compartmentId: c.id, status, ...(c.parcelId === undefined ? {} : { parcelId: c.parcelId }) });
  }

  setDoor(c: Compartment, door: Compartment['door']): void {
    if (c.door === door) return;
    c.door = door;
    this.hooks.emit({ type: 'door', compartmentId: c.id, state: door });
  }

  fault(c: Compartment, fault: SimFaultName): string[] {
    c.faults.add(fault);
    this.hooks.emit({ type: 'fault', compartmentId: c.id, fault, active: true });
    if (fault === 'forced-open') {
      this.setDoor(c, 'open');
      this.hooks.emit({ type: 'alarm', compartmentId: c.id, alarm: 'uncommanded-open', active: true });
    }
    if (fault === 'sensor-dead') {
      this.setDoor(c, 'unknown');
      this.hooks.emit({ type: 'alarm', compartmentId: c.id, alarm: 'sensor-unknown', active: true });
    }
    return [`${c.id}: fault ${fault} injected`];
  }

  clearFault(c: Compartment, fault: SimFaultName | undefined): string[] {
    const cleared = fault === undefined ? [...c.faults] : [fault];
    for (const f of cleared) {
      if (!c.faults.delete(f)) continue;
      this.hooks.emit({ type: 'fault', compartmentId: c.id, fault: f, active: false });
      if (f === 'sensor-dead') this.setDoor(c, 'closed');
    }
    return [`${c.id}: ${fault ?? 'all faults'} cleared`];
  }

  service(c: Compartment, inService: boolean): string[] {
    const target = inService ? (c.parcelId === undefined ? 'free' : 'occupied') : 'out-of-service';
    if (c.status === target) return [`${c.id}: already ${target}`];
    this.setStatus(c, target, 'technician');
    this.hooks.emit({ type: 'alarm', compartmentId: c.id, alarm: 'out-of-service', active: !inService });
    return [`${c.id}: now ${target}`];
  }
}

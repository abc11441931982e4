import type { DisplayMessage, PanelEventBody } from '../panel-events.js';
import { SimFaultName as FaultSchema } from '../panel-events.js';
import type { CompartmentSize, LockerView } from '../panel-port.js';
import { FakeCompartments, type Compartment } from './fake-compartments.js';

// One locker bank in memory, driven by the console's command language: what the panel
// tests need of a real locker, with the same observable behaviour (a courier credential
// then a parcel barcode opens the reserved door; closing it stores the parcel and makes
// the code live; the code typed on the keypad opens it and collects the parcel; a jammed
// door raises an alarm, takes the compartment out of service and re-slots the parcel).
// Every change is emitted as an event, as the session does. The compartments' mechanics
// (relay, door, faults, service) are in fake-compartments.ts.

export interface FakeParcel {
  parcelId: string;
  compartmentId: string;
  code: string;
  qrToken: string;
  state: 'awaiting-deposit' | 'live' | 'collected';
}

export interface FakeLockerHooks {
  emit(body: PanelEventBody): void;
  now(): number;
  /** A parcel was deposited (the backend notifies its customer). */
  deposited(parcel: FakeParcel): void;
  collected(parcel: FakeParcel): void;
  isCourierCredential(token: string): boolean;
  /** A deposit moved to another compartment (its door was jammed). */
  reslotted(parcel: FakeParcel): void;
}

const LOCKOUT_AFTER = 5;

export class FakeLocker {
  private readonly bank: FakeCompartments;
  private readonly parcels = new Map<string, FakeParcel>();
  private display: DisplayMessage | undefined;
  private typed = '';
  private courierSession = false;
  private failures = 0;
  private lockedUntil: number | undefined;
  private codeSetVersion = 1;
  private auditSeq = 0;
  private backlog = 0;
  private powered = true;
  private networkUp = true;
  private skewMs = 0;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly location: string,
    layout: readonly { id: string; size: CompartmentSize }[],
    private readonly hooks: FakeLockerHooks,
  ) {
    this.bank = new FakeCompartments(layout, { emit: (b) => this.emit(b), audit: (t, d) => this.audit(t, d), show: (m) => this.show(m) });
    this.display = { tone: 'idle', text: 'Welcome: type your code or scan' };
  }

  view(): LockerView {
    return {
      id: this.id, name: this.name, location: this.location, powered: this.powered,
      online: this.powered && this.networkUp, networkUp: this.networkUp, codeSetVersion: this.codeSetVersion,
      outboxBacklog: this.backlog, lockout: { active: this.lockedOut(), ...(this.lockedUntil === undefined ? {} : { until: this.lockedUntil }), failures: this.failures },
      ...(this.display === undefined ? {} : { display: this.display }),
      clock: this.now(),
      compartments: this.bank.views(),
    };
  }

  /** The backend reserved a free compartment of `size`; undefined when none is free. */
  reserve(size: CompartmentSize): string | undefined {
    const taken = new Set([...this.parcels.values()].filter((p) => p.state !== 'collected').map((p) => p.compartmentId));
    return this.bank.all().find((c) => c.size === size && c.status === 'free' && !taken.has(c.id))?.id;
  }

  /** The code batch with a new parcel arrives. */
  addParcel(parcel: FakeParcel): void {
    this.parcels.set(parcel.parcelId, parcel);
    this.codeSetVersion += 1;
    this.emit({ type: 'code-set', version: this.codeSetVersion });
  }

  run(line: string): string[] {
    const [word = '', ...args] = line.trim().split(/\s+/);
    if (!this.powered && word !== 'status') return ['the locker has no power'];
    switch (word.toLowerCase()) {
      case 'keys': return this.keys(args[0] ?? '');
      case 'scan': return this.scan(line.trim().slice(4).trim());
      case 'open': return this.pull(this.bank.get(args[0]));
      case 'close': return this.close(this.bank.get(args[0]));
      case 'fault': return this.bank.fault(this.bank.get(args[0]), FaultSchema.parse(args[1]));
      case 'clear-fault': return this.bank.clearFault(this.bank.get(args[0]), args[1] === undefined ? undefined : FaultSchema.parse(args[1]));
      case 'service': return this.bank.service(this.bank.get(args[0]), args[1] === 'on');
      case 'power-cut': return this.powerCut();
      case 'network': return this.network(args[0] === 'on');
      case 'clock': return this.clock(args[0], args[1]);
      case 'flood': return this.flood(Number(args[0] ?? '10'));
      case 'status': return [`locker ${this.id}: ${this.bank.all().map((c) => `${c.id} ${c.status}`).join(', ')}`];
      default: return [`unknown command '${word}' (type 'help' for the list)`];
    }
  }

  /** Power back (after a cut): the device boots on the same state. */
  powerOn(): void {
    this.powered = true;
    this.emit({ type: 'power', state: 'on' });
    if (this.networkUp) this.emit({ type: 'online', online: true });
    this.show({ tone: 'idle', text: 'Welcome: type your code or scan' });
  }

  private now(): number {
    return this.hooks.now() + this.skewMs;
  }

  private emit(body: PanelEventBody): void {
    this.hooks.emit(body);
  }

  private show(message: DisplayMessage): void {
    this.display = message;
    this.emit({ type: 'display', message });
  }

  private audit(auditType: string, data: Record<string, unknown>): void {
    this.auditSeq += 1;
    this.emit({ type: 'audit', seq: this.auditSeq, auditType, lane: auditType.startsWith('door.') ? 'priority' : 'normal', data });
    if (this.networkUp) return;
    this.backlog += 1;
    this.emit({ type: 'outbox', backlog: this.backlog });
  }

  private lockedOut(): boolean {
    return this.lockedUntil !== undefined && this.now() < this.lockedUntil;
  }

  private keys(keys: string): string[] {
    if (!/^[0-9#*Cc]{1,64}$/.test(keys)) return ["only digits, '#' (enter), '*' (clear) and 'C' (cancel) — usage: keys <keys>"];
    for (const key of keys.toUpperCase()) {
      this.emit({ type: 'beep', pattern: 'key' });
      if (key === 'C') {
        this.typed = '';
        this.courierSession = false;
        this.show({ tone: 'idle', text: 'Welcome: type your code or scan' });
      } else if (key === '*') {
        this.typed = '';
        this.show({ tone: 'prompt', text: 'Code: ' });
      } else if (key === '#') {
        this.submitCode(this.typed);
        this.typed = '';
      } else {
        this.typed += key;
        this.show({ tone: 'prompt', text: `Code: ${'*'.repeat(this.typed.length)}` });
      }
    }
    return [`keypad: ${String(keys.length)} key(s) pressed`];
  }

  private submitCode(code: string): void {
    if (this.lockedOut()) {
      this.show({ tone: 'error', text: 'Keypad locked: try again later' });
      return;
    }
    const parcel = [...this.parcels.values()].find((p) => p.state === 'live' && p.code === code);
    if (parcel === undefined) {
      this.failures += 1;
      this.audit('pickup.refused', { reason: 'unknown-code' });
      this.show({ tone: 'error', text: 'Unknown code' });
      this.emit({ type: 'beep', pattern: 'error' });
      if (this.failures >= LOCKOUT_AFTER) {
        this.lockedUntil = this.now() + 5 * 60_000;
        this.audit('keypad.lockout', { failures: this.failures });
        this.emit({ type: 'lockout', active: true, until: this.lockedUntil, failures: this.failures });
      }
      return;
    }
    this.failures = 0;
    this.pickUp(parcel);
  }

  private pickUp(parcel: FakeParcel): void {
    const c = this.bank.get(parcel.compartmentId);
    if (!this.bank.pulse(c)) return;
    parcel.state = 'collected';
    this.audit('pickup.collected', { parcelId: parcel.parcelId, compartmentId: c.id });
    this.show({ tone: 'success', text: `Door ${c.id} is open: take your parcel`, compartmentId: c.id });
    this.hooks.collected(parcel);
  }

  private scan(text: string): string[] {
    if (text === '') return ['wrong number of arguments — usage: scan <text>'];
    const lines = [`scanner: ${String(text.length)} characters scanned`];
    if (this.hooks.isCourierCredential(text)) {
      this.courierSession = true;
      this.show({ tone: 'prompt', text: 'Courier: scan a parcel barcode' });
      return lines;
    }
    const byToken = [...this.parcels.values()].find((p) => p.state === 'live' && p.qrToken === text);
    if (byToken !== undefined) {
      this.pickUp(byToken);
      return lines;
    }
    const parcel = this.parcels.get(text);
    if (this.courierSession && parcel?.state === 'awaiting-deposit') {
      this.deposit(parcel);
      return lines;
    }
    this.show({ tone: 'error', text: this.courierSession ? 'Unknown parcel' : 'Code not recognised' });
    return lines;
  }

  private deposit(parcel: FakeParcel): void {
    const c = this.bank.get(parcel.compartmentId);
    if (this.bank.pulse(c)) {
      this.show({ tone: 'prompt', text: `Put the parcel in ${c.id} and close the door`, compartmentId: c.id });
      return;
    }
    // The door did not open: the locker takes the compartment out and tries another of the size.
    const spare = this.bank.spareFor(c);
    if (spare === undefined) {
      this.show({ tone: 'error', text: 'No compartment available: contact support' });
      return;
    }
    parcel.compartmentId = spare.id;
    this.audit('courier.reslot', { parcelId: parcel.parcelId, from: c.id, to: spare.id });
    this.emit({ type: 'reslot', parcelId: parcel.parcelId, from: c.id, to: spare.id, reason: 'door jammed' });
    this.hooks.reslotted(parcel);
    this.deposit(parcel);
  }





  private pull(c: Compartment): string[] {
    return [`${c.id}: ${c.door === 'open' ? 'the door is open' : 'the door does not move (latched or jammed)'}`];
  }

  private close(c: Compartment): string[] {
    this.bank.setDoor(c, c.faults.has('sensor-dead') ? 'unknown' : 'closed');
    const parcel = [...this.parcels.values()].find((p) => p.compartmentId === c.id && p.state !== 'live');
    if (parcel?.state === 'awaiting-deposit' && c.status === 'free') {
      parcel.state = 'live';
      c.parcelId = parcel.parcelId;
      this.courierSession = false;
      this.bank.setStatus(c, 'occupied');
      this.audit('courier.deposited', { parcelId: parcel.parcelId, compartmentId: c.id });
      this.show({ tone: 'success', text: 'Thank you: parcel stored' });
      this.hooks.deposited(parcel);
    } else if (parcel?.state === 'collected' && c.status === 'occupied') {
      delete c.parcelId;
      this.bank.setStatus(c, 'free');
      this.show({ tone: 'idle', text: 'Welcome: type your code or scan' });
    }
    return [`${c.id}: door pushed shut`];
  }




  private powerCut(): string[] {
    this.powered = false;
    this.emit({ type: 'power', state: 'off' });
    this.emit({ type: 'online', online: false });
    this.bank.relaysOff();
    this.typed = '';
    this.courierSession = false;
    this.display = undefined;
    return ['power cut: the device process is dead'];
  }

  private network(up: boolean): string[] {
    if (this.networkUp === up) return [`the network is already ${up ? 'up' : 'down'}`];
    this.networkUp = up;
    this.emit({ type: 'network', state: up ? 'up' : 'down' });
    this.emit({ type: 'online', online: up });
    if (up && this.backlog > 0) {
      this.backlog = 0;
      this.emit({ type: 'outbox', backlog: 0 });
    }
    return [up ? 'network cable plugged back in' : 'network cable pulled'];
  }

  /** `clock forward 15m` (time passes) or `clock wall -1h` (the wall clock jumps); minutes and hours only. */
  private clock(mode: string | undefined, duration: string | undefined): string[] {
    const match = /^([+-]?\d+)(m|h)$/.exec(duration ?? '');
    if ((mode !== 'forward' && mode !== 'wall') || match === null) return ['error: usage: clock [forward <duration> | wall <±duration>]'];
    const ms = Number(match[1]) * (match[2] === 'h' ? 3_600_000 : 60_000);
    this.skewMs += ms;
    this.emit({ type: 'clock', wallMs: this.now(), ...(mode === 'forward' ? { advancedMs: ms } : { wallSkewMs: ms }) });
    if (this.lockedUntil !== undefined && !this.lockedOut()) {
      this.lockedUntil = undefined;
      this.failures = 0;
      this.emit({ type: 'lockout', active: false, failures: 0 });
    }
    return [`the clock moved ${duration ?? ''}`];
  }

  /** n wrong codes as fast as the keypad takes them. */
  private flood(count: number): string[] {
    const n = Number.isInteger(count) && count > 0 ? Math.min(count, 1_000) : 10;
    for (let i = 0; i < n; i++) this.submitCode(String(90_000_000 + i));
    return [`keypad: ${String(n)} wrong codes typed`];
  }
}

import type { SimFault } from '@locker/hal/sim/compartment-model.js';
import type { BeepPattern, DisplayMessage, DoorState, InputRejection, Unsubscribe } from '@locker/hal/types.js';
import type { SimEvent } from './sim-events.js';

// The typed events of a simulator session, one union for everything a technician can see
// happen at a locker: what the hardware did (sim-events.ts), what the device wrote to its
// audit log, and what its state became (online, code-set version, outbox backlog, lockout,
// power, network, clock). The console prints them and the web panel streams them; both
// word them with event-format.ts, so they always agree.

/** Failures and alarms the device detects (from its audit log) and faults a technician injects. */
export type AlarmKind =
  | 'door-jammed'
  | 'relay-fault'
  | 'sensor-unknown'
  | 'left-open'
  | 'uncommanded-open'
  | 'out-of-service'
  | 'open-unknown'
  | 'suspicious-code'
  | 'clock-jump';

export type SessionEventBody =
  | { type: 'door'; compartmentId: string; state: DoorState }
  /** The relay energised (`state: 'on'`) or switched off again. */
  | { type: 'relay'; compartmentId: string; state: 'on' | 'off'; ms?: number; latchReleased?: boolean; doorBlocked?: boolean }
  /** A pulse failed; `energised`: whether the relay was on at all. */
  | { type: 'relay-failed'; compartmentId: string; energised: boolean }
  /** A hardware fault injected (active) or cleared by the technician. */
  | { type: 'fault'; compartmentId: string; fault: SimFault; active: boolean }
  /** The device raised (or a technician cleared) an alarm. */
  | { type: 'alarm'; compartmentId?: string; alarm: AlarmKind; active: boolean; detail?: string }
  /** A courier deposit moved to another compartment. */
  | { type: 'reslot'; parcelId?: string; from: string; to: string; reason?: string }
  /** A record appended to the device's audit log (ids and outcomes only: never a code or token). */
  | { type: 'audit'; seq: number; auditType: string; lane: string; data: Record<string, unknown> }
  /** A compartment's stored status changed. */
  | { type: 'compartment'; compartmentId: string; status: 'free' | 'occupied' | 'out-of-service'; parcelId?: string }
  /** The sync agent's MQTT session to the broker. */
  | { type: 'online'; online: boolean }
  | { type: 'code-set'; version: number }
  /** Audit records written but not yet acknowledged by the backend. */
  | { type: 'outbox'; backlog: number }
  | { type: 'lockout'; active: boolean; until?: number; failures: number }
  | { type: 'display'; message: DisplayMessage }
  | { type: 'beep'; pattern: BeepPattern }
  | { type: 'input-rejected'; rejection: InputRejection }
  | { type: 'power'; state: 'off' | 'on' }
  | { type: 'network'; state: 'up' | 'down' }
  /** Time moved: `advancedMs` for everyone (time passed), or this locker's wall clock skewed. */
  | { type: 'clock'; wallMs: number; advancedMs?: number; wallSkewMs?: number }
  /** What the backend side sent (a customer notice, a parcel assigned): words for people. */
  | { type: 'notice'; text: string };

export type SessionEvent = SessionEventBody & { lockerId: string; at: number };

export type SessionEventType = SessionEvent['type'];

/** The session event for a hardware event. */
export function fromHardware(lockerId: string, event: SimEvent): SessionEvent {
  const base = { lockerId, at: event.at };
  switch (event.type) {
    case 'display':
      return { ...base, type: 'display', message: event.message };
    case 'beep':
      return { ...base, type: 'beep', pattern: event.pattern };
    case 'pulse':
      return { ...base, type: 'relay', compartmentId: event.compartmentId, state: 'on', ms: event.ms, latchReleased: event.latchReleased, doorBlocked: event.doorBlocked };
    case 'pulse-ended':
      return { ...base, type: 'relay', compartmentId: event.compartmentId, state: 'off' };
    case 'pulse-failed':
      return { ...base, type: 'relay-failed', compartmentId: event.compartmentId, energised: event.energised };
    case 'door':
      return { ...base, type: 'door', compartmentId: event.compartmentId, state: event.state };
    case 'input-rejected':
      return { ...base, type: 'input-rejected', rejection: event.rejection };
  }
}

const alarmOfAudit: Readonly<Record<string, AlarmKind>> = {
  'door.jammed': 'door-jammed',
  'door.relay-fault': 'relay-fault',
  'door.sensor-unknown': 'sensor-unknown',
  'door.left-open': 'left-open',
  'door.uncommanded-open': 'uncommanded-open',
  'compartment.out-of-service': 'out-of-service',
  'door.open-unknown': 'open-unknown',
  'pickup.suspicious': 'suspicious-code',
  'clock.jump': 'clock-jump',
};

/**
 * What an audit record announces beyond itself: an alarm, a re-slot. The audit event is
 * emitted too; these make the fault impossible to miss.
 */
export function announcementsOfAudit(lockerId: string, at: number, auditType: string, data: Record<string, unknown>): SessionEvent[] {
  const compartmentId = typeof data['compartmentId'] === 'string' ? data['compartmentId'] : undefined;
  const alarm = alarmOfAudit[auditType];
  if (alarm !== undefined) {
    const detail = ['reason', 'cause', 'direction'].map((k) => data[k]).find((v): v is string => typeof v === 'string');
    return [{ lockerId, at, type: 'alarm', alarm, active: true, ...(compartmentId === undefined ? {} : { compartmentId }), ...(detail === undefined ? {} : { detail }) }];
  }
  if (auditType === 'courier.reslot' && typeof data['from'] === 'string' && typeof data['to'] === 'string') {
    return [{
      lockerId, at, type: 'reslot', from: data['from'], to: data['to'],
      ...(typeof data['parcelId'] === 'string' ? { parcelId: data['parcelId'] } : {}),
      ...(typeof data['reason'] === 'string' ? { reason: data['reason'] } : {}),
    }];
  }
  return [];
}

/** Listeners plus a bounded history, per session. A listener's exception never reaches the emitter. */
export class SessionEventBus {
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  private readonly recent = new Map<string, SessionEvent[]>();

  constructor(private readonly keepPerLocker = 500) {}

  on(listener: (event: SessionEvent) => void, lockerId?: string): Unsubscribe {
    const entry = (event: SessionEvent): void => {
      if (lockerId === undefined || event.lockerId === lockerId) listener(event);
    };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(event: SessionEvent): void {
    const list = this.recent.get(event.lockerId) ?? [];
    list.push(event);
    if (list.length > this.keepPerLocker) list.shift();
    this.recent.set(event.lockerId, list);
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A printing or streaming bug must not break the locker that emitted the event.
      }
    }
  }

  history(lockerId: string): readonly SessionEvent[] {
    return [...(this.recent.get(lockerId) ?? [])];
  }
}

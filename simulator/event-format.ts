import type { AlarmKind, SessionEvent } from './session-events.js';
import { fromHardware } from './session-events.js';
import type { SimEvent } from './sim-events.js';

// The one wording of every session event, for the console, the demo and the web panel:
// a fault, an alarm or a re-slot reads the same wherever it is seen. Display texts are
// already human-readable and, by the hardware contract, never contain a code or a token;
// audit data never does either (the store refuses it).

export type EventLevel = 'alarm' | 'info' | 'detail';

export interface EventText {
  /** Tag column: what kind of thing happened. */
  tag: string;
  text: string;
  /** 'alarm': a fault or alarm; 'info': worth a console line; 'detail': the panel's stream only. */
  level: EventLevel;
}

const alarmText: Readonly<Record<AlarmKind, string>> = {
  'door-jammed': 'door jammed: it did not open although the latch was released',
  'relay-fault': 'relay fault: the door could not be unlocked',
  'sensor-unknown': 'door sensor gives no reading',
  'left-open': 'door left open',
  'uncommanded-open': 'door opened without a command (forced?)',
  'out-of-service': 'taken out of service',
  'open-unknown': 'open interrupted: outcome unknown, the credential is spent',
  'suspicious-code': 'suspicious code entry',
  'clock-jump': 'the wall clock jumped; device time did not follow it',
};

function clockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 23);
}

function duration(ms: number): string {
  const abs = Math.abs(ms);
  const sign = ms < 0 ? '-' : '+';
  if (abs >= 3_600_000) return `${sign}${(abs / 3_600_000).toFixed(abs % 3_600_000 === 0 ? 0 : 2)} h`;
  if (abs >= 60_000) return `${sign}${(abs / 60_000).toFixed(abs % 60_000 === 0 ? 0 : 1)} min`;
  return `${sign}${(abs / 1000).toFixed(abs % 1000 === 0 ? 0 : 1)} s`;
}

/** The words for an event, or undefined for events not worth any (a key click, the masked code echo). */
export function describeEvent(event: SessionEvent): EventText | undefined {
  switch (event.type) {
    case 'display': {
      // The masked echo of each keypress ("Code: ***") would be one line per key.
      if (event.message.tone === 'prompt' && /^Code: \**$/.test(event.message.text)) return undefined;
      const where = event.message.compartmentId === undefined ? '' : ` (${event.message.compartmentId})`;
      return { tag: 'display', text: `[${event.message.tone}] ${event.message.text}${where}`, level: event.message.tone === 'alarm' ? 'alarm' : 'info' };
    }
    case 'beep':
      // A 'key' click on every keypress would bury the interesting lines.
      return event.pattern === 'key' ? undefined : { tag: 'beep', text: event.pattern, level: 'info' };
    case 'relay': {
      if (event.state === 'off') return { tag: 'relay', text: `${event.compartmentId} off`, level: 'detail' };
      const latch = event.doorBlocked === true
        ? 'energised, but the door cannot open (injected fault)'
        : event.latchReleased === true ? 'latch released' : 'energised, latch not released yet';
      return { tag: 'relay', text: `${event.compartmentId} on for ${String(event.ms ?? '?')} ms: ${latch}`, level: event.doorBlocked === true ? 'alarm' : 'info' };
    }
    case 'relay-failed':
      return {
        tag: 'FAULT',
        text: event.energised
          ? `relay ${event.compartmentId} failed during the pulse (it had energised)`
          : `relay ${event.compartmentId} could not be energised: the latch stayed shut (relay fault)`,
        level: 'alarm',
      };
    case 'door':
      return { tag: 'door', text: `${event.compartmentId} is ${event.state}`, level: 'info' };
    case 'input-rejected':
      return { tag: 'input', text: `${event.rejection.source} rejected ${String(event.rejection.length)} bytes (${event.rejection.reason})`, level: 'info' };
    case 'fault':
      return { tag: event.active ? 'FAULT' : 'fault', text: `${event.compartmentId} ${event.fault} ${event.active ? 'injected' : 'cleared'}`, level: event.active ? 'alarm' : 'info' };
    case 'alarm': {
      const where = event.compartmentId === undefined ? '' : `${event.compartmentId} `;
      const detail = event.detail === undefined ? '' : ` (${event.detail})`;
      return event.active
        ? { tag: 'ALARM', text: `${where}${alarmText[event.alarm]}${detail}`, level: 'alarm' }
        : { tag: 'cleared', text: `${where}${event.alarm === 'out-of-service' ? 'back in service' : `${event.alarm} cleared`}`, level: 'info' };
    }
    case 'reslot':
      return { tag: 'RE-SLOT', text: `${event.parcelId === undefined ? 'the deposit' : `parcel ${event.parcelId}`} moves from ${event.from} to ${event.to}${event.reason === undefined ? '' : ` (${event.reason})`}`, level: 'alarm' };
    case 'audit':
      return { tag: 'audit', text: `#${String(event.seq)} ${event.auditType}${event.lane === 'priority' ? ' !' : ''} ${JSON.stringify(event.data)}`, level: 'detail' };
    case 'compartment':
      return { tag: 'state', text: `${event.compartmentId} is ${event.status}${event.parcelId === undefined ? '' : ` (parcel ${event.parcelId})`}`, level: 'detail' };
    case 'online':
      return event.online
        ? { tag: 'network', text: 'online: connected to the broker', level: 'info' }
        : { tag: 'OFFLINE', text: 'lost the broker: the locker works offline and queues its audit', level: 'alarm' };
    case 'code-set':
      return { tag: 'codes', text: `code set version ${String(event.version)} applied`, level: 'info' };
    case 'outbox':
      return { tag: 'outbox', text: `${String(event.backlog)} audit record(s) not yet acknowledged by the backend`, level: 'detail' };
    case 'lockout':
      return event.active
        ? { tag: 'LOCKOUT', text: `keypad locked${event.until === undefined ? '' : ` until ${new Date(event.until).toISOString().slice(11, 19)} UTC`} after ${String(event.failures)} wrong codes`, level: 'alarm' }
        : { tag: 'lockout', text: `keypad lockout over (${String(event.failures)} recent failures)`, level: 'info' };
    case 'power':
      return event.state === 'off'
        ? { tag: 'POWER', text: 'power cut: the device process is dead (no graceful stop)', level: 'alarm' }
        : { tag: 'power', text: 'power restored: the device boots on the same database', level: 'info' };
    case 'network':
      return event.state === 'down'
        ? { tag: 'NETWORK', text: 'network cable pulled: the broker is unreachable', level: 'alarm' }
        : { tag: 'network', text: 'network cable back: the agent reconnects on its own', level: 'info' };
    case 'clock':
      if (event.advancedMs !== undefined) return { tag: 'clock', text: `${duration(event.advancedMs)} passed (device and backend); now ${new Date(event.wallMs).toISOString()}`, level: 'info' };
      return { tag: 'CLOCK', text: `wall clock jumped ${duration(event.wallSkewMs ?? 0)}: it reads ${new Date(event.wallMs).toISOString()}`, level: 'alarm' };
    case 'notice':
      return { tag: 'backend', text: event.text, level: 'info' };
  }
}

/** One console line for an event (time, tag, words), or undefined for detail-only events. */
export function formatSessionEvent(event: SessionEvent, options: { withLocker?: boolean; details?: boolean } = {}): string | undefined {
  const described = describeEvent(event);
  if (described === undefined || (described.level === 'detail' && options.details !== true)) return undefined;
  const who = options.withLocker === true ? `${event.lockerId}  ` : '';
  return `${clockTime(event.at)}  ${who}${described.tag.padEnd(8)} ${described.text}`;
}

/** The line for a hardware event (the demo's view), worded as the session words it. */
export function formatEvent(event: SimEvent): string | undefined {
  return formatSessionEvent(fromHardware('', event));
}

import type { EventWords, PanelEventBody } from '../panel-events.js';

// The fake's stand-in for the session's formatter (event-format.ts `describeEvent`): every
// event gets words from here, in one place, as the real session does, so tests can check
// that the page shows the server's words verbatim.

export function fakeWords(event: PanelEventBody): EventWords | undefined {
  switch (event.type) {
    case 'door':
      return { tag: 'door', text: `${event.compartmentId} is ${event.state}`, level: 'info' };
    case 'relay':
      return event.state === 'on'
        ? { tag: 'relay', text: `${event.compartmentId} on for ${String(event.ms ?? 0)} ms: ${event.doorBlocked === true ? 'energised, but the door cannot open (injected fault)' : 'latch released'}`, level: event.doorBlocked === true ? 'alarm' : 'info' }
        : { tag: 'relay', text: `${event.compartmentId} off`, level: 'detail' };
    case 'relay-failed':
      return { tag: 'FAULT', text: `relay ${event.compartmentId} could not be energised: the latch stayed shut (relay fault)`, level: 'alarm' };
    case 'fault':
      return { tag: event.active ? 'FAULT' : 'fault', text: `${event.compartmentId} ${event.fault} ${event.active ? 'injected' : 'cleared'}`, level: event.active ? 'alarm' : 'info' };
    case 'alarm': {
      const where = event.compartmentId === undefined ? '' : `${event.compartmentId} `;
      const what = { 'door-jammed': 'door jammed: it did not open although the latch was released', 'out-of-service': 'taken out of service' }[event.alarm as string] ?? event.alarm;
      return event.active ? { tag: 'ALARM', text: `${where}${what}`, level: 'alarm' } : { tag: 'cleared', text: `${where}${event.alarm} cleared`, level: 'info' };
    }
    case 'reslot':
      return { tag: 'RE-SLOT', text: `parcel ${event.parcelId ?? '?'} moves from ${event.from} to ${event.to}`, level: 'alarm' };
    case 'audit':
      return { tag: 'audit', text: `#${String(event.seq)} ${event.auditType}`, level: 'detail' };
    case 'compartment':
      return { tag: 'state', text: `${event.compartmentId} is ${event.status}`, level: 'detail' };
    case 'online':
      return event.online ? { tag: 'network', text: 'online: connected to the broker', level: 'info' } : { tag: 'OFFLINE', text: 'lost the broker', level: 'alarm' };
    case 'code-set':
      return { tag: 'codes', text: `code set version ${String(event.version)} applied`, level: 'info' };
    case 'outbox':
      return { tag: 'outbox', text: `${String(event.backlog)} audit record(s) not yet acknowledged by the backend`, level: 'detail' };
    case 'lockout':
      return event.active ? { tag: 'LOCKOUT', text: `keypad locked after ${String(event.failures)} wrong codes`, level: 'alarm' } : { tag: 'lockout', text: 'keypad lockout over', level: 'info' };
    case 'display':
      if (event.message.tone === 'prompt' && /^Code: \**$/.test(event.message.text)) return undefined;
      return { tag: 'display', text: `[${event.message.tone}] ${event.message.text}`, level: event.message.tone === 'alarm' ? 'alarm' : 'info' };
    case 'beep':
      return event.pattern === 'key' ? undefined : { tag: 'beep', text: event.pattern, level: 'info' };
    case 'input-rejected':
      return { tag: 'input', text: `${event.rejection.source} rejected ${String(event.rejection.length)} bytes (${event.rejection.reason})`, level: 'info' };
    case 'power':
      return event.state === 'off' ? { tag: 'POWER', text: 'power cut: the device process is dead', level: 'alarm' } : { tag: 'power', text: 'power restored', level: 'info' };
    case 'network':
      return event.state === 'down' ? { tag: 'NETWORK', text: 'network cable pulled', level: 'alarm' } : { tag: 'network', text: 'network cable back', level: 'info' };
    case 'clock':
      return { tag: 'clock', text: `${String(Math.round((event.advancedMs ?? event.wallSkewMs ?? 0) / 60_000))} min passed`, level: 'info' };
    case 'notice':
      return { tag: 'backend', text: event.text, level: 'info' };
  }
}

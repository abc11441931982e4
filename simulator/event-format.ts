import type { SimEvent } from './sim-events.js';

// One human-readable line per event, for the console and the demo. Display texts are
// already human-readable and, by the hardware contract, never contain a code or a token.

function clockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 23);
}

/** The line for an event, or undefined for events not worth a line. */
export function formatEvent(event: SimEvent): string | undefined {
  const t = clockTime(event.at);
  switch (event.type) {
    case 'display': {
      // The masked echo of each keypress ("Code: ***") would be one line per key.
      if (event.message.tone === 'prompt' && /^Code: \**$/.test(event.message.text)) return undefined;
      const where = event.message.compartmentId === undefined ? '' : ` (${event.message.compartmentId})`;
      return `${t}  display  [${event.message.tone}] ${event.message.text}${where}`;
    }
    case 'beep':
      // A 'key' click on every keypress would bury the interesting lines.
      return event.pattern === 'key' ? undefined : `${t}  beep     ${event.pattern}`;
    case 'pulse':
      return `${t}  relay    ${event.compartmentId} pulsed ${String(event.ms)} ms (latch released)`;
    case 'pulse-failed':
      return `${t}  relay    ${event.compartmentId} pulse FAILED (relay fault)`;
    case 'door':
      return `${t}  door     ${event.compartmentId} is ${event.state}`;
    case 'input-rejected':
      return `${t}  input    ${event.rejection.source} rejected ${String(event.rejection.length)} bytes (${event.rejection.reason})`;
  }
}

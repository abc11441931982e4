import type { Key } from '../types.js';

// The keypad controller sends one ASCII byte per key. This decoder is pure and shared by
// the real serial keypad and the simulated one, so the simulator exercises the same code.

export type KeypadEvent =
  | { type: 'key'; key: Key }
  | { type: 'rejected'; reason: 'garbage'; length: number };

const ESC = 0x1b;
const CR = 0x0d;
const LF = 0x0a;

/** Maps one byte to a key; undefined for bytes that are not keys. */
export function byteToKey(byte: number): Key | undefined {
  if (byte >= 0x30 && byte <= 0x39) return String.fromCharCode(byte) as Key;
  if (byte === 0x23) return 'enter'; // '#'
  if (byte === 0x2a) return 'clear'; // '*'
  if (byte === 0x43 || byte === ESC) return 'cancel'; // 'C'
  return undefined;
}

/** The byte a real keypad sends for a key (used by the simulator to press keys). */
export function keyToByte(key: Key): number {
  switch (key) {
    case 'enter':
      return 0x23;
    case 'clear':
      return 0x2a;
    case 'cancel':
      return 0x43;
    default:
      return key.charCodeAt(0);
  }
}

/**
 * Decodes one chunk of bytes. Consecutive garbage bytes in a chunk are reported as one
 * rejection (a line glitch produces bursts; one report per byte would flood the audit
 * log). CR/LF are ignored and do not split a burst. Bursts are not joined across chunks:
 * the decoder keeps no state, so a glitch can never swallow a later valid key.
 */
export function decodeKeypadBytes(bytes: Uint8Array): KeypadEvent[] {
  const events: KeypadEvent[] = [];
  let garbage = 0;
  for (const byte of bytes) {
    if (byte === CR || byte === LF) continue;
    const key = byteToKey(byte);
    if (key === undefined) {
      garbage++;
      continue;
    }
    if (garbage > 0) {
      events.push({ type: 'rejected', reason: 'garbage', length: garbage });
      garbage = 0;
    }
    events.push({ type: 'key', key });
  }
  if (garbage > 0) events.push({ type: 'rejected', reason: 'garbage', length: garbage });
  return events;
}

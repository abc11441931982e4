import type { BeepPattern, DisplayMessage, Key } from '@locker/hal/types.js';

// Keypad entry: digits accumulate until Enter. Pure: the runtime feeds key presses and the
// idle timeout (a timer it runs on this machine's behalf) and executes the effects.
//
// Decision (docs/security.md): an entry of the wrong length is NOT a failed attempt. The
// configured length is public, so a wrong-length entry tells an attacker nothing and cannot
// open anything; counting it would only punish typos. It is answered without a lookup.

export const MAX_KEYPAD_DIGITS = 10;

export interface KeypadEntryConfig {
  /** Configured code length, 6–10. */
  codeLength: number;
  /** Digits typed are forgotten after this long without a key. */
  idleTimeoutMs: number;
}

export type KeypadEntryState = { kind: 'idle' } | { kind: 'typing'; digits: string };

export type KeypadEntryInput = { type: 'key'; key: Key } | { type: 'idle-timeout' };

export type KeypadEntryEffect =
  | { type: 'show'; message: DisplayMessage }
  | { type: 'beep'; pattern: BeepPattern }
  | { type: 'start-idle-timer'; ms: number }
  | { type: 'cancel-idle-timer' }
  /** A complete code of the configured length: the runtime looks it up. Never logged. */
  | { type: 'submit'; code: string }
  | { type: 'wrong-length'; length: number };

export interface KeypadEntryStep {
  state: KeypadEntryState;
  effects: KeypadEntryEffect[];
}

export const keypadIdle: KeypadEntryState = { kind: 'idle' };

/** The display masks digits: someone looking over the shoulder sees only how many. */
export function maskedPrompt(count: number): DisplayMessage {
  return { tone: 'prompt', text: `Code: ${'*'.repeat(count)}` };
}

export function idleMessage(codeLength: number): DisplayMessage {
  return { tone: 'idle', text: `Enter your ${String(codeLength)}-digit code or scan your QR code` };
}

export function keypadEntryStep(state: KeypadEntryState, input: KeypadEntryInput, config: KeypadEntryConfig): KeypadEntryStep {
  const digits = state.kind === 'typing' ? state.digits : '';
  if (input.type === 'idle-timeout') {
    if (state.kind === 'idle') return { state, effects: [] };
    return { state: keypadIdle, effects: [{ type: 'show', message: idleMessage(config.codeLength) }] };
  }
  const { key } = input;
  switch (key) {
    case 'clear':
    case 'cancel': {
      const effects: KeypadEntryEffect[] = [{ type: 'beep', pattern: 'key' }, { type: 'show', message: idleMessage(config.codeLength) }];
      if (state.kind === 'typing') effects.unshift({ type: 'cancel-idle-timer' });
      return { state: keypadIdle, effects };
    }
    case 'enter': {
      if (state.kind === 'idle') return { state, effects: [{ type: 'beep', pattern: 'error' }] };
      const effects: KeypadEntryEffect[] = [{ type: 'cancel-idle-timer' }];
      if (digits.length !== config.codeLength) {
        effects.push(
          { type: 'wrong-length', length: digits.length },
          { type: 'beep', pattern: 'error' },
          { type: 'show', message: { tone: 'error', text: `The code has ${String(config.codeLength)} digits. Please try again.` } },
        );
      } else {
        // The progress text first: the submit is handled synchronously and shows its result.
        effects.push({ type: 'show', message: { tone: 'progress', text: 'Checking…' } }, { type: 'submit', code: digits });
      }
      return { state: keypadIdle, effects };
    }
    default: {
      // A digit. Beyond the maximum it is refused with an error beep and not stored, so a
      // stuck key cannot grow the buffer.
      if (digits.length >= MAX_KEYPAD_DIGITS) return { state, effects: [{ type: 'beep', pattern: 'error' }] };
      const next = digits + key;
      return {
        state: { kind: 'typing', digits: next },
        effects: [
          { type: 'beep', pattern: 'key' },
          { type: 'show', message: maskedPrompt(next.length) },
          { type: 'start-idle-timer', ms: config.idleTimeoutMs },
        ],
      };
    }
  }
}

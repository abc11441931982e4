import { describe, expect, it } from 'vitest';
import type { Key } from '@locker/hal/types.js';
import { keypadEntryStep, keypadIdle, MAX_KEYPAD_DIGITS, type KeypadEntryEffect, type KeypadEntryState } from './keypad-entry.js';

const config = { codeLength: 8, idleTimeoutMs: 15_000 };

function type(keys: readonly Key[], start: KeypadEntryState = keypadIdle): { state: KeypadEntryState; effects: KeypadEntryEffect[] } {
  let state = start;
  let effects: KeypadEntryEffect[] = [];
  for (const key of keys) {
    const step = keypadEntryStep(state, { type: 'key', key }, config);
    state = step.state;
    effects = step.effects;
  }
  return { state, effects };
}

const digits = (s: string): Key[] => [...s] as Key[];

describe('keypad entry', () => {
  const cases: Array<{ name: string; keys: Key[]; state: KeypadEntryState; has: KeypadEntryEffect['type'][] }> = [
    { name: 'accumulates digits and restarts the idle timer', keys: digits('123'), state: { kind: 'typing', digits: '123' }, has: ['beep', 'show', 'start-idle-timer'] },
    { name: 'submits a code of the configured length on enter', keys: [...digits('12345678'), 'enter'], state: keypadIdle, has: ['cancel-idle-timer', 'submit'] },
    { name: 'answers a short code as wrong length without a lookup', keys: [...digits('1234567'), 'enter'], state: keypadIdle, has: ['wrong-length'] },
    { name: 'answers a long code as wrong length', keys: [...digits('123456789'), 'enter'], state: keypadIdle, has: ['wrong-length'] },
    { name: 'clear forgets the digits', keys: [...digits('12'), 'clear'], state: keypadIdle, has: ['cancel-idle-timer', 'show'] },
    { name: 'cancel forgets the digits', keys: [...digits('12'), 'cancel'], state: keypadIdle, has: ['cancel-idle-timer'] },
    { name: 'enter with nothing typed only beeps', keys: ['enter'], state: keypadIdle, has: ['beep'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { state, effects } = type(c.keys);
      expect(state).toEqual(c.state);
      const types = effects.map((e) => e.type);
      for (const t of c.has) expect(types).toContain(t);
      if (!c.has.includes('submit')) expect(types).not.toContain('submit');
    });
  }

  it('passes the typed code only in the submit effect', () => {
    const { effects } = type([...digits('87654321'), 'enter']);
    expect(effects.find((e) => e.type === 'submit')).toEqual({ type: 'submit', code: '87654321' });
    for (const e of effects) if (e.type === 'show') expect(e.message.text).not.toContain('8765');
  });

  it('masks the digits on the display', () => {
    const { effects } = type(digits('4242'));
    const show = effects.find((e) => e.type === 'show');
    expect(show?.type === 'show' && show.message.text).toBe('Code: ****');
  });

  it('refuses digits beyond the maximum without storing them', () => {
    const { state, effects } = type(digits('1'.repeat(MAX_KEYPAD_DIGITS + 3)));
    expect(state).toEqual({ kind: 'typing', digits: '1'.repeat(MAX_KEYPAD_DIGITS) });
    expect(effects).toEqual([{ type: 'beep', pattern: 'error' }]);
  });

  it('forgets the digits when the idle timeout fires', () => {
    const step = keypadEntryStep({ kind: 'typing', digits: '12' }, { type: 'idle-timeout' }, config);
    expect(step.state).toEqual(keypadIdle);
    expect(step.effects.map((e) => e.type)).toEqual(['show']);
  });

  it('ignores an idle timeout when nothing is typed', () => {
    expect(keypadEntryStep(keypadIdle, { type: 'idle-timeout' }, config)).toEqual({ state: keypadIdle, effects: [] });
  });
});

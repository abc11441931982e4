import { describe, expect, it } from 'vitest';
import { type KeypadEvent, decodeKeypadBytes } from './keypad-protocol.js';

const key = (k: string): KeypadEvent => ({ type: 'key', key: k } as KeypadEvent);
const garbage = (length: number): KeypadEvent => ({ type: 'rejected', reason: 'garbage', length });

describe('keypad protocol', () => {
  const cases: Array<[string, Uint8Array, KeypadEvent[]]> = [
    ['decodes every digit', Buffer.from('0123456789'), [...'0123456789'].map(key)],
    ['maps # to enter, * to clear and C to cancel', Buffer.from('#*C'), [key('enter'), key('clear'), key('cancel')]],
    ['treats ESC as cancel', Uint8Array.of(0x1b), [key('cancel')]],
    ['ignores CR and LF', Buffer.from('1\r\n2\n'), [key('1'), key('2')]],
    ['reports a single garbage byte', Buffer.from('x'), [garbage(1)]],
    ['coalesces a burst of garbage into one rejection', Uint8Array.of(0xff, 0x00, 0x41, 0x80), [garbage(4)]],
    ['does not let CR/LF split a garbage burst', Buffer.from('ab\r\ncd'), [garbage(4)]],
    ['keeps keys on both sides of a burst', Buffer.from('1zz2'), [key('1'), garbage(2), key('2')]],
    ['treats lower-case c as garbage', Buffer.from('c'), [garbage(1)]],
    ['returns nothing for an empty chunk', new Uint8Array(0), []],
  ];
  it.each(cases)('%s', (_name, bytes, expected) => {
    expect(decodeKeypadBytes(bytes)).toEqual(expected);
  });
});

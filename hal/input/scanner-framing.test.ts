import { describe, expect, it } from 'vitest';
import { type ScannerEvent, ScannerFramer } from './scanner-framing.js';

const scan = (data: string): ScannerEvent => ({ type: 'scan', data });
const rejected = (reason: 'garbage' | 'oversized' | 'framing', length: number): ScannerEvent => ({ type: 'rejected', reason, length });

describe('scanner framing', () => {
  const cases: Array<[string, Array<string | Uint8Array>, ScannerEvent[], number?]> = [
    ['frames a line ended by LF', ['ABC\n'], [scan('ABC')]],
    ['frames a line ended by CR', ['ABC\r'], [scan('ABC')]],
    ['treats CRLF as one terminator', ['A\r\nB\r\n'], [scan('A'), scan('B')]],
    ['ignores empty lines', ['\n\r\n\rX\n'], [scan('X')]],
    ['waits for the terminator across chunks', ['AB', 'C', 'D\n'], [scan('ABCD')]],
    ['holds back a line with no terminator', ['ABC'], []],
    ['rejects a line with a non-printable byte as garbage', [Uint8Array.of(0x41, 0x00, 0x42, 0x0a)], [rejected('garbage', 3)]],
    ['rejects non-ASCII bytes as garbage', [Uint8Array.of(0xc3, 0xa9, 0x0a)], [rejected('garbage', 2)]],
    ['accepts a line of exactly maxLength', ['12345\n'], [scan('12345')], 5],
    ['rejects a line one byte over maxLength as oversized', ['123456\n'], [rejected('oversized', 6)], 5],
    ['reports oversized before garbage', [Uint8Array.of(0, 0, 0, 0, 0, 0, 0x0a)], [rejected('oversized', 6)], 5],
    ['recovers after an oversized line', ['1234567890\nOK\n'], [rejected('oversized', 10), scan('OK')], 5],
    ['keeps printable punctuation and spaces', ['v4.public.a-b_c d~\n'], [scan('v4.public.a-b_c d~')]],
  ];
  it.each(cases)('%s', (_name, chunks, expected, maxLength) => {
    const framer = new ScannerFramer(maxLength);
    const events = chunks.flatMap((c) => framer.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
    expect(events).toEqual(expected);
  });

  it('never buffers more than maxLength bytes of an endless line', () => {
    const framer = new ScannerFramer(16);
    for (let i = 0; i < 1000; i++) framer.push(Buffer.alloc(1024, 0x41));
    const buffered = (framer as unknown as { buffer: number[] }).buffer.length;
    expect(buffered).toBeLessThanOrEqual(16);
    expect(framer.push(Buffer.from('\n'))).toEqual([rejected('oversized', 1024 * 1000)]);
  });

  it('drops a line left without its terminator once the scanner has been silent, so the next scan is whole', () => {
    const framer = new ScannerFramer(2048, 500);
    expect(framer.push(Buffer.from('v4.public.cut-of'), 1_000)).toEqual([]);
    // The customer scans again a few seconds later: the stale fragment must not be glued on.
    expect(framer.push(Buffer.from('v4.public.whole\r\n'), 4_000)).toEqual([rejected('framing', 16), scan('v4.public.whole')]);
  });

  it('keeps a line whose bytes arrive in chunks close together', () => {
    const framer = new ScannerFramer(2048, 500);
    expect(framer.push(Buffer.from('v4.pub'), 1_000)).toEqual([]);
    expect(framer.push(Buffer.from('lic.x\n'), 1_400)).toEqual([scan('v4.public.x')]);
  });

  it('refuses a non-positive maxLength', () => {
    expect(() => new ScannerFramer(0)).toThrow(RangeError);
  });
});

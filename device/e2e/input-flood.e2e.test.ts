import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { Harness } from './harness.js';

// A keypad or scanner on a loose cable emits garbage as fast as the line allows (about 480
// rejected frames a second at 9600 baud). Each is counted, but the SD card sees a bounded
// number of lines: the first per source and reason in a minute, then one summary.

let h: Harness;

afterEach(async () => {
  await h.close();
});

describe('garbage from the input devices', () => {
  it('logs a bounded number of lines for thousands of rejected frames and still counts each one', async () => {
    const logs = captureLogs('info');
    h = new Harness({ logger: logs.logger });
    await h.start();
    const frames = 5_000;
    for (let i = 0; i < frames; i++) {
      // Garbage between valid keys: two rejections per chunk.
      h.control.keypad.injectBytes(Uint8Array.from([0x00, 0x2a, 0xff]));
      h.control.scanner.injectBytes(Uint8Array.from([0x01, 0x02, 0x0d]));
    }
    await h.advance(100);
    expect(h.runtime.stats().rejectedKeypad).toBe(2 * frames);
    expect(h.runtime.stats().rejectedScanner).toBe(frames);
    expect(logs.find('input.rejected')).toHaveLength(2);

    // After the window, the next clock tick writes one summary with the count per reason.
    await h.advance(70_000);
    const summaries = logs.find('input.rejected-summary');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]?.suppressed).toEqual({ 'keypad:garbage': 2 * frames - 1, 'scanner:garbage': frames - 1 });
    expect(h.runtime.stats().handlerErrors).toBe(0);
  });
});

import { pino } from 'pino';
import qrcode from 'qrcode-generator';
import { describe, expect, it } from 'vitest';
import { PanelApi } from './panel-api.js';
import type { PanelBackend, PanelPort } from './panel-port.js';
import { qrSvg } from './qr-svg.js';

describe('pickup QR code', () => {
  it('encodes text beyond ASCII as its UTF-8 bytes, not the low byte of each character', () => {
    // '✓' is U+2713: the library on its own keeps 0x13 of it and draws the code of '\x13'.
    expect(qrSvg('✓')).not.toBe(qrSvg('\x13'));
    const utf8 = qrcode(0, 'M');
    utf8.addData('\xe2\x9c\x93', 'Byte');
    utf8.make();
    expect(qrSvg('✓')).toBe(utf8.createSvgTag({ cellSize: 3, margin: 4, scalable: true }));
  });

  it('draws markup-like text as modules only, and has no picture for text no QR code holds', () => {
    const svg = qrSvg('<img src=x onerror=alert(1)>"&');
    expect(svg).toMatch(/^<svg [^>]*viewBox="0 0 \d+ \d+"/);
    expect(svg).not.toMatch(/onerror|<img|&(?!amp;|lt;|gt;|quot;)/);
    expect(qrSvg('')).toMatch(/^<svg /);
    expect(qrSvg('x'.repeat(2_331))).toMatch(/^<svg /);
    expect(qrSvg('x'.repeat(2_332))).toBeUndefined();
  });

  it('keeps an order readable when a notification carries a token too long for a QR code', async () => {
    const backend: Pick<PanelBackend, 'order' | 'timeline' | 'notifications'> = {
      order: (id) => Promise.resolve({ id, state: 'paid', customerName: 'Ada', shipments: [] }),
      timeline: () => Promise.resolve([]),
      notifications: (id) => Promise.resolve([
        { id: 'n1', kind: 'parcel.ready_for_pickup', at: 1, orderId: id, qrToken: 'x'.repeat(5_000) },
        { id: 'n2', kind: 'parcel.ready_for_pickup', at: 2, orderId: id, qrToken: 'short' },
      ]),
    };
    const port = { backend } as unknown as PanelPort;
    const detail = await new PanelApi(port, pino({ level: 'silent' })).order('o1');
    expect(detail.notifications.map((n) => [n.id, n.qrToken?.length, n.qrSvg === undefined])).toEqual([['n1', 5_000, true], ['n2', 5, false]]);
  });
});

import { describe, expect, it } from 'vitest';
import { parseProviderTime } from './provider-time.js';

describe('provider time parsing', () => {
  it('reads ISO 8601 instants with Z or an offset, with or without fractions, to epoch ms', () => {
    expect(parseProviderTime('2026-11-19T14:02:00Z')).toEqual({ ok: true, ms: Date.parse('2026-11-19T14:02:00Z') });
    expect(parseProviderTime('2026-11-19T14:02:00-05:00')).toEqual({ ok: true, ms: Date.parse('2026-11-19T19:02:00Z') });
    expect(parseProviderTime('2026-11-19T14:02:00+0530')).toEqual({ ok: true, ms: Date.parse('2026-11-19T08:32:00Z') });
    expect(parseProviderTime('2026-11-19T14:02:00.123456Z')).toEqual({ ok: true, ms: Date.parse('2026-11-19T14:02:00.123Z') });
  });

  it('refuses impossible dates and times that Date.parse would roll over or accept', () => {
    for (const t of ['2026-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-11-19T24:00:00Z', '2026-11-19T14:60:00Z', '2026-11-19T14:02:00+15:00', 'Thu, 19 Nov 2026 14:02:00 GMT', '1969-12-31T23:59:59Z']) {
      expect(parseProviderTime(t).ok, t).toBe(false);
    }
    expect(parseProviderTime('2028-02-29T00:00:00Z').ok).toBe(true);
  });

  it('reads a local time as UTC and a date as its last millisecond only when asked', () => {
    expect(parseProviderTime('2026-11-20T05:48:00').ok).toBe(false);
    expect(parseProviderTime('2026-11-20T05:48:00', { localAsUtc: true })).toEqual({ ok: true, ms: Date.parse('2026-11-20T05:48:00Z') });
    expect(parseProviderTime('2026-11-21').ok).toBe(false);
    expect(parseProviderTime('2026-11-21', { dateOnlyAsEndOfDay: true })).toEqual({ ok: true, ms: Date.parse('2026-11-21T23:59:59.999Z') });
  });
});

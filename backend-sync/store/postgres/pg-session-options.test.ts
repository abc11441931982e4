import { describe, expect, it } from 'vitest';
import { pgSessionConfig, splitUrlOptions } from './pg-session-options.js';

// The URL's options are taken out of the query and nothing else of the URL is touched: a
// password's percent-encoding re-encoded differently would no longer authenticate.

describe('splitUrlOptions', () => {
  it('removes only the options parameter, leaving user, password, host and the rest of the query byte for byte', () => {
    const base = 'postgres://us%40er:p%40ss%3Aw%2Frd%20%25x%2B@db.example:6432/lock%20ers';
    const s = splitUrlOptions(`${base}?sslmode=disable&options=-c%20statement_timeout%3D5000+-c+lock_timeout%3D1s&application_name=a%20b#frag`);
    expect(s.url).toBe(`${base}?sslmode=disable&application_name=a%20b#frag`);
    expect(s.options).toBe('-c statement_timeout=5000 -c lock_timeout=1s');
    expect([...s.settings]).toEqual([['statement_timeout', '5000'], ['lock_timeout', '1s']]);
  });

  it('leaves a URL without options as it is', () => {
    expect(splitUrlOptions('postgres://u:p%23w@h/db').url).toBe('postgres://u:p%23w@h/db');
    expect(splitUrlOptions('postgres://u@h/db?options=').url).toBe('postgres://u@h/db');
  });

  it('merges every options parameter and puts ours after them, escaped', () => {
    const c = pgSessionConfig('postgres://h/db?options=-c%20a.b%3D1&options=--work-mem%3D8MB', { search_path: 's1', 'locker.note': 'two words' });
    expect(c).toEqual({ connectionString: 'postgres://h/db', options: '-c a.b=1 --work-mem=8MB -c search_path=s1 -c locker.note=two\\ words' });
  });

  it('reads escaped spaces as part of a value, not as a new switch', () => {
    expect([...splitUrlOptions(`postgres://h/db?options=${encodeURIComponent('-c x.y=a\\ -c\\ search_path=public')}`).settings]).toEqual([['x.y', 'a -c search_path=public']]);
  });

  // PostgreSQL (pg_split_opts) splits on ASCII white space only and keeps an escaped one,
  // trailing included: URLs it accepts must not be refused at start after an upgrade.
  it('splits as PostgreSQL does: a no-break space and an escaped trailing space are part of the value', () => {
    const url = `postgres://h/db?options=${encodeURIComponent('-c x.a=north\u00a0east')}&options=${encodeURIComponent('-c x.b=pad\\ ')}`;
    expect([...splitUrlOptions(url).settings]).toEqual([['x.a', 'north\u00a0east'], ['x.b', 'pad ']]);
    // Ours follow as their own words, not escaped into the operator's value.
    expect(pgSessionConfig(url, { search_path: 's1' }).options).toBe('-c x.a=north\u00a0east -c x.b=pad\\  -c search_path=s1');
    expect(() => splitUrlOptions(`postgres://h/db?options=${encodeURIComponent('-c x.b=1 \\')}&options=-c%20x.c%3D2`)).toThrow(/backslash/);
  });

  it('names the field in the CONFIG_INVALID it raises', () => {
    expect(() => pgSessionConfig('postgres://h/db?options=-c%20search_path%3Dx', {}, 'LOCKER_PG_URL')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^LOCKER_PG_URL is invalid: .*search_path/) as unknown }));
  });
});

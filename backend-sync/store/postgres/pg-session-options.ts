import { BackendError } from '../../shared/errors.js';

// The session settings the backend needs on every PostgreSQL connection (its schema, the
// idle-in-transaction bound) travel in the startup packet's `options`. An operator's
// db.url may carry its own `?options=-c statement_timeout=…`, and node-postgres lets the
// URL's options replace the `options` we pass beside it, whole: the sessions would then
// work in the wrong schema (public) and keep an idle transaction's row locks for hours,
// silently. So the URL's options are taken out of it and merged with ours into the one
// `options` the connection gets; a URL that sets a setting we own is refused instead of
// one of the two being chosen silently.

/** Settings only the backend sets (from db.schema and db.idleInTransactionTimeoutMs). */
export const BACKEND_OWNED_SETTINGS: Readonly<Record<string, string>> = {
  search_path: 'db.schema',
  idle_in_transaction_session_timeout: 'db.idleInTransactionTimeoutMs',
};

export interface SplitUrl {
  /** The URL without its `options` query parameter; everything else (password encoding included) byte for byte. */
  url: string;
  /** The operator's options, as written (libpq syntax, decoded from the query); '' when none. */
  options: string;
  /** The settings they make, by normalised name (lower case, '-' as '_', as PostgreSQL reads them). */
  settings: ReadonlyMap<string, string>;
}

/** Why a URL's options cannot be merged with ours: an invalid db.url, said for the operator. */
export class PgUrlOptionsError extends Error {
  override readonly name = 'PgUrlOptionsError';
}

/**
 * Takes the `options` query parameter out of a postgres:// URL and reads it. Only the query
 * is rewritten (the user, password and host are not decoded and re-encoded). Throws
 * PgUrlOptionsError when the options are not plain settings or set one the backend owns.
 */
export function splitUrlOptions(url: string, owned: Readonly<Record<string, string>> = BACKEND_OWNED_SETTINGS): SplitUrl {
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  if (q === -1 || (hash !== -1 && hash < q)) return { url, options: '', settings: new Map() };
  const end = hash === -1 ? url.length : hash;
  const kept: string[] = [];
  const found: string[] = [];
  for (const part of url.slice(q + 1, end).split('&')) {
    // Decoded as node-postgres decodes the query (URLSearchParams: '+' is a space).
    const entry = [...new URLSearchParams(part)][0];
    if (entry?.[0] === 'options') found.push(entry[1]);
    else if (part !== '') kept.push(part);
  }
  // Each parameter read on its own and joined untrimmed: trimming would drop an escaped
  // trailing space (`x\ `, part of the value to PostgreSQL) and leave a dangling backslash.
  const parts = found.filter((o) => splitWords(o).length > 0);
  const options = parts.join(' ');
  const settings = new Map(parts.flatMap((o) => [...readSettings(o)]));
  for (const name of settings.keys()) {
    const field = owned[name];
    if (field !== undefined) {
      throw new PgUrlOptionsError(`its options set ${name}, which the backend sets itself on every connection (from ${field}): remove it from the URL (set ${field} instead)`);
    }
  }
  return { url: url.slice(0, q) + (kept.length === 0 ? '' : `?${kept.join('&')}`) + url.slice(end), options, settings };
}

/** The problem with a db.url's options, or undefined: for the config's validation. */
export function urlOptionsProblem(url: string): string | undefined {
  try {
    splitUrlOptions(url);
    return undefined;
  } catch (err) {
    if (err instanceof PgUrlOptionsError) return err.message;
    throw err;
  }
}

/** `-c name=value` for each of ours (values are plain: a schema name, a number). */
export function settingsOptions(ours: Readonly<Record<string, string>>): string {
  return Object.entries(ours)
    .map(([name, value]) => `-c ${name}=${escapeOption(value)}`)
    .join(' ');
}

/**
 * node-postgres connection settings for `url` with `ours` applied on every session and the
 * URL's own options kept. A URL that conflicts is a CONFIG_INVALID naming `field`.
 */
export function pgSessionConfig(url: string, ours: Readonly<Record<string, string>>, field = 'db.url'): { connectionString: string; options: string } {
  try {
    const split = splitUrlOptions(url);
    // Ours last: PostgreSQL applies them in order, so they win even over a case we did not foresee.
    return { connectionString: split.url, options: [split.options, settingsOptions(ours)].filter((o) => o !== '').join(' ') };
  } catch (err) {
    if (err instanceof PgUrlOptionsError) throw new BackendError('CONFIG_INVALID', `${field} is invalid: ${err.message}`, { field });
    throw err;
  }
}

/**
 * The settings an options string makes. PostgreSQL splits it on white space (a backslash
 * keeps the next character), and reads `-c name=value`, `-cname=value` and `--name=value`.
 * Anything else (another server switch, a dangling `-c` or backslash) is refused: ours are
 * appended after it, and a switch left waiting for its argument would swallow them.
 */
function readSettings(options: string): Map<string, string> {
  const words = splitWords(options);
  const settings = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? '';
    let assignment: string | undefined;
    if (w === '-c') assignment = words[++i];
    else if (w.startsWith('--')) assignment = w.slice(2);
    else if (w.startsWith('-c')) assignment = w.slice(2);
    const eq = assignment?.indexOf('=') ?? -1;
    if (assignment === undefined || eq <= 0) throw new PgUrlOptionsError(`its options may only hold settings (-c name=value), not '${w}'`);
    settings.set(assignment.slice(0, eq).toLowerCase().replaceAll('-', '_'), assignment.slice(eq + 1));
  }
  return settings;
}

/** White space as PostgreSQL's isspace() sees it: ASCII only (a UTF-8 no-break space is part of a word). */
const SPACE = /[ \t\n\v\f\r]/;

function splitWords(s: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charAt(i);
    if (SPACE.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === '\\') {
      if (i + 1 >= s.length) throw new PgUrlOptionsError('its options end in a backslash');
      word = (word ?? '') + s.charAt(++i);
    } else word = (word ?? '') + ch;
  }
  if (word !== undefined) words.push(word);
  return words;
}

function escapeOption(value: string): string {
  return value.replace(/[ \t\n\v\f\r\\]/g, (c) => `\\${c}`);
}

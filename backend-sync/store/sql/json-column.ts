import type { z } from 'zod';
import { BackendError } from '../../shared/errors.js';

// JSON columns are written from validated values, but the database is shared (several
// instances, operators with psql, older code): what comes back is checked against the
// record's schema rather than trusted with a cast. A row that does not fit is corruption
// to be seen, never skipped: the error names the table, the row's key and the column.

export interface JsonColumn {
  table: string;
  column: string;
  /** The row's key, e.g. { id: 'n-1' } or { lockerId, tokenId }. */
  key: Readonly<Record<string, string | number>>;
}

export function readJson<S extends z.ZodType>(schema: S, text: string, where: JsonColumn): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the text, which may hold personal data.
    throw corrupt(where, 'is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw corrupt(where, `does not match its schema (${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`);
  return parsed.data;
}

function corrupt(where: JsonColumn, problem: string): BackendError {
  const key = Object.entries(where.key)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  return new BackendError('INTERNAL', `corrupt row in ${where.table} (${key}): ${where.column} ${problem}`, { table: where.table, key: where.key, column: where.column, problem });
}

/** Whether `err` is readJson's report of a row that does not fit its schema. */
export function isCorruptRow(err: unknown): err is BackendError {
  return err instanceof BackendError && err.code === 'INTERNAL' && err.details?.['problem'] !== undefined && err.message.startsWith('corrupt row in ');
}

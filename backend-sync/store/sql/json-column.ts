import type { z } from 'zod';
import { BackendError } from '../../shared/errors.js';

// JSON columns are read back through the zod schema of what was written, never cast: a row
// edited by hand, written by a newer version or damaged on disk must fail loudly, naming
// where it is, rather than flow on as a wrongly typed object. The error carries the table,
// the row's key and the column, never the column's content (it may hold personal data).

export interface JsonColumn {
  table: string;
  /** The row's primary key, e.g. `{ id: 'lk-1' }`. */
  key: Readonly<Record<string, string | number>>;
  column: string;
}

export function readJson<T>(schema: z.ZodType<T>, text: string, where: JsonColumn): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt(where, ['not JSON']);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw corrupt(where, parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  return parsed.data;
}

function corrupt(where: JsonColumn, issues: string[]): BackendError {
  const key = Object.entries(where.key)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  return new BackendError('INTERNAL', `corrupt row in ${where.table} (${key}): ${where.column} does not match its schema`, {
    table: where.table,
    key: where.key,
    column: where.column,
    issues,
  });
}

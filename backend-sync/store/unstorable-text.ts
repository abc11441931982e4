// PostgreSQL text cannot hold U+0000 (SQLite can): a value with one fails its statement with
// 22021 (character_not_in_repertoire, "invalid byte sequence … 0x00"), or 22P05 when the
// server cannot convert it. It is the caller's input, never our fault: the HTTP layer
// answers 400, and the statement's transaction was rolled back whole.

export function isUnstorableTextError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '22021' || code === '22P05';
}

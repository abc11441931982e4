// Visibility of code entries staged by a batch applied in slices (docs/decisions/0025).
//
// A large batch writes its new entries in short transactions before it switches the
// code-set version, so the keypad is never held up for a whole 10k-row transaction. Those
// rows carry staged_version = the batch's toVersion and stay out of the code set until the
// switching transaction moves meta.code_set_version to that version: one row changes and
// every staged row becomes visible at once. A kill before the switch leaves rows whose
// staged_version is above the set's version: invisible, and deleted before the next batch.
//
// Every read of code_entries that decides what a code or a token may do adds this filter.
// The subquery is uncorrelated (SQLite runs it once per statement) and the meta table has
// one row, so a lookup costs the same as before.

/** SQL condition: the row belongs to the current code set (not staged for a later version). */
export const VISIBLE_ENTRY = '(staged_version IS NULL OR staged_version <= (SELECT code_set_version FROM meta WHERE id = 1))';

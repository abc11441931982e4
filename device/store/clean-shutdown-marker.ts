import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync, type Stats } from 'node:fs';
import { z } from 'zod';

// The integrity check at open reads every page: about 300 ms on a 100k-code store, most of
// a cold start. It exists for what a crash or power cut can leave behind. So a graceful
// close leaves a marker beside the file naming the size and modification time it closed
// at; the next open that finds the file exactly so skips the check, and removes the marker
// before it writes anything, so a crash during that run leaves none. A file replaced,
// truncated or overwritten since (an operator's copy, a damaged card) does not match and
// is checked in full, as is every start after a crash.

const Marker = z.object({ size: z.number().int().nonnegative(), mtimeMs: z.number() }).strict();

const markerPath = (dbPath: string): string => `${dbPath}.clean`;

/** Written after the last connection closed (the WAL is folded in): what the file is now. */
export function writeCleanShutdownMarker(dbPath: string, stats: Stats): void {
  const fd = openSync(markerPath(dbPath), 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify({ size: stats.size, mtimeMs: stats.mtimeMs }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** True when the file is exactly as a graceful close left it. Removes the marker either way. */
export function takeCleanShutdownMarker(dbPath: string, stats: Stats | undefined): boolean {
  let text: string;
  try {
    text = readFileSync(markerPath(dbPath), 'utf8');
  } catch {
    return false;
  }
  rmSync(markerPath(dbPath), { force: true });
  if (stats === undefined) return false;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return false;
  }
  const m = Marker.safeParse(json);
  return m.success && m.data.size === stats.size && m.data.mtimeMs === stats.mtimeMs;
}

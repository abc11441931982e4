import type { Store } from '../store/store.js';

// What GET /health says about the database. A load balancer or supervisor polls it, so the
// probe is one trivial statement, bounded: a server that accepts connections but never
// answers (a network partition) must make /health say "unavailable", not hang with it.

export const DB_PROBE_TIMEOUT_MS = 2_000;

export type DbHealth = 'ok' | 'unavailable';

/** 'ok' when the store answered a trivial statement within `timeoutMs`, else 'unavailable' with why. */
export async function probeDb(store: Pick<Store, 'ping'>, timeoutMs = DB_PROBE_TIMEOUT_MS): Promise<{ db: DbHealth; reason?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${String(timeoutMs)} ms`)), timeoutMs);
  });
  try {
    await Promise.race([store.ping(), late]);
    return { db: 'ok' };
  } catch (err) {
    return { db: 'unavailable', reason: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

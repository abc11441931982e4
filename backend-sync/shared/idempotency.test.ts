import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { SqlStore } from '../store/sql-store.js';
import { testEngines } from '../testing/pg-test-db.js';
import { openTestStore } from '../testing/test-store.js';
import { isBackendError } from './errors.js';
import { idempotent, idempotentGrouped } from './idempotency.js';

// Idempotent writes on every engine, including the race only several instances on
// PostgreSQL can produce: two requests under one key both miss the lookup and both do the
// work; the loser must be undone whole and answer with the winner's response.

const dir = mkdtempSync(join(tmpdir(), 'idem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('idempotent writes');
const T = 1_800_000_000_000;
const Answer = z.object({ id: z.string() }).strict();

/** Resolves once `n` callers arrived, or after `ms` (SQLite runs one transaction at a time, so the second never arrives while the first waits). */
function barrier(n: number, ms: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const all = new Promise<void>((r) => (open = r));
  return () => {
    if (++arrived >= n) open();
    return Promise.race([all, new Promise<void>((r) => setTimeout(r, ms))]);
  };
}

describe.each(engines)('idempotent writes on %s', (engine) => {
  let store: SqlStore;
  let dispose: () => Promise<void>;
  beforeEach(async () => {
    ({ store, dispose } = await openTestStore(engine, dir));
  });
  afterEach(() => dispose());

  /** A unit of work with a visible effect: one state-log row per run that commits. */
  const work = (tag: string, arrive: () => Promise<void>) => async () => {
    await store.stateLog.append({ entity: 'order', entityId: 'ord-1', to: tag, event: 'place', actor: 'test', at: T });
    await arrive();
    return { id: tag };
  };

  it('does the work once when two requests under one key race, and answers both with the same response', async () => {
    const arrive = barrier(2, 300);
    const [a, b] = await Promise.all([
      idempotent(store, 'order', 'key-race-1', { n: 1 }, T, 201, Answer, work('a', arrive)),
      idempotent(store, 'order', 'key-race-1', { n: 1 }, T, 201, Answer, work('b', arrive)),
    ]);
    expect(a.body).toEqual(b.body);
    expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
    const log = await store.stateLog.list('order', 'ord-1');
    expect(log.map((e) => e.to)).toEqual([a.body.id]);
  });

  it('refuses another body under a used key and leaves no trace of the refused work', async () => {
    await idempotentGrouped(store, 'order', 'key-2', { n: 1 }, T, 201, Answer, work('first', () => Promise.resolve()));
    const err: unknown = await idempotentGrouped(store, 'order', 'key-2', { n: 2 }, T, 201, Answer, work('second', () => Promise.resolve())).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBackendError(err, 'IDEMPOTENCY_MISMATCH')).toBe(true);
    expect((await store.stateLog.list('order', 'ord-1')).map((e) => e.to)).toEqual(['first']);
  });

  it('keeps nothing of a unit whose work fails, so the key can be used again', async () => {
    const failing = idempotent(store, 'order', 'key-3', { n: 1 }, T, 201, Answer, async () => {
      await store.stateLog.append({ entity: 'order', entityId: 'ord-1', to: 'doomed', event: 'place', actor: 'test', at: T });
      throw new Error('payment provider down');
    });
    await expect(failing).rejects.toThrow(/provider down/);
    expect(await store.idempotency.get('order', 'key-3')).toBeUndefined();
    const retried = await idempotent(store, 'order', 'key-3', { n: 1 }, T, 201, Answer, work('ok', () => Promise.resolve()));
    expect(retried.replayed).toBe(false);
    expect((await store.stateLog.list('order', 'ord-1')).map((e) => e.to)).toEqual(['ok']);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { SqliteStore } from './sqlite-store.js';

describe('group commit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('commits concurrent units together, undoing only the unit that throws', async () => {
    const store = SqliteStore.open(join(dir, 'g.db'), silentLogger());
    const put = (key: string): void => {
      store.idempotency.put('s', key, { requestHash: 'h', statusCode: 201, responseJson: '{}' }, 1);
    };
    const results = await Promise.allSettled([
      store.transactionGrouped(() => put('a')),
      store.transactionGrouped(() => {
        put('b');
        throw new Error('no capacity');
      }),
      store.transactionGrouped(() => {
        put('c');
        return 'c';
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(store.idempotency.get('s', 'a')).toBeDefined();
    expect(store.idempotency.get('s', 'b')).toBeUndefined();
    expect(store.idempotency.get('s', 'c')).toBeDefined();
    store.close();
  });

  it('settles a unit only after its commit is durable: nothing is visible to another connection before', async () => {
    const path = join(dir, 'h.db');
    const store = SqliteStore.open(path, silentLogger());
    const other = SqliteStore.open(path, silentLogger());
    const pending = store.transactionGrouped(() => store.idempotency.put('s', 'k', { requestHash: 'h', statusCode: 201, responseJson: '{}' }, 1));
    expect(other.idempotency.get('s', 'k')).toBeUndefined();
    await pending;
    expect(other.idempotency.get('s', 'k')).toBeDefined();
    store.close();
    other.close();
  });
});

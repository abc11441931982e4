import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceStore } from './device-store.js';
import { FakeClock, makeBatch, makeEntries, openTestStore, tempDir } from './store-test-fixtures.js';

const DAY = 86_400_000;

describe('pruneHistory', () => {
  let cleanup: () => void;
  let clock: FakeClock;
  let store: DeviceStore;
  beforeEach(() => {
    let dir: string;
    ({ dir, cleanup } = tempDir());
    clock = new FakeClock();
    store = openTestStore(join(dir, 'store.db'), clock);
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('deletes old finished history and keeps what still protects something', () => {
    const [a, b, c] = makeEntries(0, 3);
    store.applyCodeBatch(makeBatch({ upserts: [a!, b!, c!] }));
    store.markDeposited(a!.tokenId, 'C1', clock.now());
    store.markCollected(a!.tokenId, clock.now());
    store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, revocations: [{ tokenId: b!.tokenId, reason: 'cancelled' }] }));
    store.beginOpen({ opId: 'done', compartmentId: 'C1', reason: 'pickup', startedAt: clock.now() });
    store.finishOpen('done', 'opened', clock.now());
    store.beginOpen({ opId: 'unfinished', compartmentId: 'C2', reason: 'pickup', startedAt: clock.now() });
    store.beginCommand('tx-done', 'remote-open', clock.now() + 1000);
    store.completeCommand('tx-done', '{}');
    store.beginCommand('tx-open', 'remote-open', clock.now() + 1000);
    store.markTokenUsed(a!.tokenId, 'pickup', clock.now());
    clock.advance(40 * DAY);

    expect(store.pruneHistory({ olderThanMs: 30 * DAY })).toEqual({ opens: 1, commands: 1, revokedEntries: 1, usedTokens: 0 });
    expect(store.unfinishedOpens().map((o) => o.opId)).toEqual(['unfinished']);
    expect(store.unfinishedCommands().map((o) => o.transactionId)).toEqual(['tx-open']);
    expect(store.findEntryByTokenId(a!.tokenId)?.state).toBe('collected');
    expect(store.findEntryByTokenId(b!.tokenId)).toBeUndefined();
    expect(store.isTokenRevoked(b!.tokenId)).toBe(true);
    expect(store.isTokenUsed(a!.tokenId)).toBe(true);

    // A revoked entry the backend sends again comes back revoked, never open.
    store.applyCodeBatch(makeBatch({ fromVersion: 2, toVersion: 3, upserts: [b!] }));
    expect(store.findEntryByTokenId(b!.tokenId)?.state).toBe('revoked');

    expect(store.pruneHistory({ olderThanMs: 30 * DAY, usedTokensOlderThanMs: 35 * DAY }).usedTokens).toBe(1);
    expect(store.isTokenUsed(a!.tokenId)).toBe(false);
  });
});

import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { silentLogger } from '../logger.js';
import { RetentionSweep } from '../runtime/retention-sweep.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { Keyring } from '@locker/contract/tokens/keyring.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { verifyToken } from '../tokens/token-verifier.js';
import type { DeviceStore } from './device-store.js';
import { LockerYearSimulation, unsignedToken } from './locker-year-simulation.js';
import { FakeClock, LOCKER_ID, digestFor, makeBatch, makeEntries, makeEntry, openTestStore, tempDir } from './store-test-fixtures.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Entry `n` whose token carries a readable exp (the store never checks the signature). */
function expiringEntry(n: number, exp: number): CodeEntry {
  const entry = makeEntry(n);
  return { ...entry, token: unsignedToken({ jti: entry.tokenId, purpose: 'pickup', exp: new Date(exp).toISOString() }) };
}

function count(store: DeviceStore, table: string): number {
  return store.database.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()?.n ?? 0;
}

describe('pruneHistory', () => {
  let path: string;
  let cleanup: () => void;
  let clock: FakeClock;
  let store: DeviceStore;
  beforeEach(() => {
    let dir: string;
    ({ dir, cleanup } = tempDir());
    path = join(dir, 'store.db');
    clock = new FakeClock();
    store = openTestStore(path, clock);
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  /** The runtime's ticks: the floor follows the (here honest, backend-confirmed) clock. */
  function tick(ms: number): void {
    clock.advance(ms);
    store.saveClockTrust({ floorMs: clock.now(), confirmed: true, signedMaxMs: clock.now() });
  }

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
    tick(400 * DAY);

    // The fixtures' tokens carry no readable exp: their ids are kept whatever the margin.
    expect(store.pruneHistory({ olderThanMs: 30 * DAY, tokenExpiryMarginMs: DAY })).toEqual({
      opens: 1, commands: 1, closedEntries: 1, usedTokens: 0, revokedTokens: 0,
    });
    expect(store.unfinishedOpens().map((o) => o.opId)).toEqual(['unfinished']);
    expect(store.unfinishedCommands().map((o) => o.transactionId)).toEqual(['tx-open']);
    // Collected, but still in the backend's set (the digest counts it): kept.
    expect(store.findEntryByTokenId(a!.tokenId)?.state).toBe('collected');
    expect(store.findEntryByTokenId(b!.tokenId)).toBeUndefined();
    expect(store.isTokenRevoked(b!.tokenId)).toBe(true);
    expect(store.isTokenUsed(a!.tokenId)).toBe(true);

    // A revoked entry the backend sends again comes back revoked, never open.
    store.applyCodeBatch(makeBatch({ fromVersion: 2, toVersion: 3, upserts: [b!] }));
    expect(store.findEntryByTokenId(b!.tokenId)?.state).toBe('revoked');
  });

  it('prunes collected and retrieved entries once they left the set, and one sent again comes back revoked, never open', () => {
    const exp = clock.now() + 5 * DAY;
    const collected = expiringEntry(1, exp);
    const retrieved = expiringEntry(2, exp);
    const stays = expiringEntry(3, exp);
    store.applyCodeBatch(makeBatch({ upserts: [collected, retrieved, stays] }));
    for (const e of [collected, retrieved]) store.markDeposited(e.tokenId, e.compartmentId, clock.now());
    store.markTokenUsed(collected.tokenId, 'pickup', clock.now());
    store.markCollected(collected.tokenId, clock.now());
    store.markExpired(retrieved.tokenId, clock.now());
    store.markRetrieved(retrieved.tokenId, clock.now());
    // A snapshot that omits them: they leave the set without a revocation from the backend.
    store.applyCodeBatch(makeBatch({ kind: 'snapshot', fromVersion: 1, toVersion: 2, upserts: [stays] }));
    expect(store.isTokenRevoked(collected.tokenId)).toBe(false);
    tick(31 * DAY);

    expect(store.pruneHistory({ olderThanMs: 30 * DAY, tokenExpiryMarginMs: 365 * DAY }).closedEntries).toBe(2);
    expect(store.findEntryByTokenId(collected.tokenId)).toBeUndefined();
    expect(store.findEntryByTokenId(retrieved.tokenId)).toBeUndefined();
    expect(store.findEntryByTokenId(stays.tokenId)?.state).toBe('awaiting-deposit');

    store.applyCodeBatch(makeBatch({ fromVersion: 2, toVersion: 3, upserts: [collected, retrieved] }));
    expect(store.findEntryByTokenId(collected.tokenId)?.state).toBe('revoked');
    expect(store.findEntryByTokenId(retrieved.tokenId)?.state).toBe('revoked');
    expect(store.findEntryByCodeDigest(digestFor(1))).toBeUndefined();
  });

  it('keeps a spent token id until its exp is behind the clock floor by the margin, even with the wall clock far ahead', () => {
    const exp = clock.now() + 60 * DAY;
    const e = expiringEntry(1, exp);
    store.applyCodeBatch(makeBatch({ upserts: [e] }));
    store.markDeposited(e.tokenId, e.compartmentId, clock.now());
    store.markTokenUsed(e.tokenId, 'pickup', clock.now());
    store.markCollected(e.tokenId, clock.now());
    store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, revocations: [{ tokenId: e.tokenId, reason: 'collected-elsewhere' }] }));
    const options = { olderThanMs: 30 * DAY, tokenExpiryMarginMs: 7 * DAY };

    tick(31 * DAY);
    // The entry goes; the ids stay while the token could still verify.
    expect(store.pruneHistory(options)).toMatchObject({ closedEntries: 1, usedTokens: 0, revokedTokens: 0 });
    expect(store.isTokenUsed(e.tokenId)).toBe(true);
    expect(store.isTokenRevoked(e.tokenId)).toBe(true);

    // A wall clock set a year ahead moves trusted now, not the floor: nothing is freed.
    clock.jumpWall(365 * DAY);
    expect(store.pruneHistory(options)).toMatchObject({ usedTokens: 0, revokedTokens: 0 });
    expect(store.isTokenUsed(e.tokenId)).toBe(true);

    // Real time passes exp + margin: the floor gets there, the ids go.
    clock.jumpWall(-365 * DAY);
    tick(exp + 7 * DAY - clock.now());
    expect(store.pruneHistory(options)).toMatchObject({ usedTokens: 0, revokedTokens: 0 });
    tick(1);
    expect(store.pruneHistory(options)).toMatchObject({ usedTokens: 1, revokedTokens: 1 });
    expect(store.isTokenUsed(e.tokenId)).toBe(false);
  });

  it('frees no spent or revoked token id and no command record on a provisional clock far ahead, which a signed time later corrects down', () => {
    const realNow = clock.now();
    const exp = realNow + 10 * DAY;
    const e = expiringEntry(1, exp);
    store.applyCodeBatch(makeBatch({ upserts: [e] }));
    store.markDeposited(e.tokenId, e.compartmentId, realNow);
    store.markTokenUsed(e.tokenId, 'pickup', realNow);
    store.markCollected(e.tokenId, realNow);
    store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, revocations: [{ tokenId: e.tokenId, reason: 'collected-elsewhere' }] }));
    store.beginCommand('tx-open', 'remote-open', realNow + DAY);
    store.completeCommand('tx-open', '{}');
    // A new board whose RTC read two years ahead: device time and its floor are provisional.
    clock.advance(730 * DAY);
    expect(store.saveClockTrust({ floorMs: clock.now(), confirmed: false, signedMaxMs: 0 })).toBe(true);

    expect(store.pruneHistory({ olderThanMs: DAY, tokenExpiryMarginMs: DAY })).toMatchObject({ commands: 0, usedTokens: 0, revokedTokens: 0 });
    expect(store.isTokenUsed(e.tokenId)).toBe(true);
    expect(store.isTokenRevoked(e.tokenId)).toBe(true);
    expect(store.findCommandReply('tx-open')).toBeDefined();

    // The first signed time brings the clock back: the token verifies again, and is still spent.
    expect(store.saveClockTrust({ floorMs: realNow + HOUR, confirmed: true, signedMaxMs: realNow + HOUR })).toBe(true);
    expect(store.isTokenUsed(e.tokenId)).toBe(true);
  });

  it('keeps a spent id until the later exp when the backend re-issued the entry token after the use', () => {
    const first = expiringEntry(1, clock.now() + 2 * DAY);
    store.applyCodeBatch(makeBatch({ upserts: [first] }));
    store.markDeposited(first.tokenId, first.compartmentId, clock.now());
    store.markTokenUsed(first.tokenId, 'pickup', clock.now());
    store.markCollected(first.tokenId, clock.now());
    const reissued = expiringEntry(1, clock.now() + 60 * DAY);
    store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: [reissued] }));
    store.applyCodeBatch(makeBatch({ fromVersion: 2, toVersion: 3, revocations: [{ tokenId: first.tokenId, reason: 'expired' }] }));
    const options = { olderThanMs: DAY, tokenExpiryMarginMs: DAY };
    tick(20 * DAY);
    expect(store.pruneHistory(options)).toMatchObject({ closedEntries: 1, usedTokens: 0, revokedTokens: 0 });
    expect(store.isTokenUsed(first.tokenId)).toBe(true);
    tick(42 * DAY);
    expect(store.pruneHistory(options)).toMatchObject({ usedTokens: 1, revokedTokens: 1 });
  });

  it('keeps a used id whose token exp is unknown, and uses the exp a caller passes for a token not in the code set', () => {
    store.markTokenUsed('credential-without-entry', 'return-retrieval', clock.now());
    store.markTokenUsed('credential-with-exp-0001', 'return-retrieval', clock.now(), clock.now() + DAY);
    tick(30 * DAY);
    expect(store.pruneHistory({ olderThanMs: DAY, tokenExpiryMarginMs: DAY }).usedTokens).toBe(1);
    expect(store.isTokenUsed('credential-without-entry')).toBe(true);
    expect(store.isTokenUsed('credential-with-exp-0001')).toBe(false);
  });

  it('deletes at most maxRowsPerTable rows of a table per call and continues on the next', () => {
    for (let i = 0; i < 5; i++) {
      store.beginOpen({ opId: `op-${String(i)}`, compartmentId: 'C1', reason: 'pickup', startedAt: clock.now() });
      store.finishOpen(`op-${String(i)}`, 'opened', clock.now());
    }
    tick(2 * DAY);
    expect(store.pruneHistory({ olderThanMs: DAY, maxRowsPerTable: 3 }).opens).toBe(3);
    expect(store.pruneHistory({ olderThanMs: DAY, maxRowsPerTable: 3 }).opens).toBe(2);
  });

  it('stays bounded over months of locker life: flat row counts, a verifiable audit chain across prunes and restarts, no replayable spent token', () => {
    // Thousands of commits: without an fsync each (the file's content is what is tested).
    const fast = (): void => void store.database.pragma('synchronous = NORMAL');
    fast();
    const retention = { historyMs: 20 * DAY, tokenExpiryMarginMs: 3 * DAY, sweepEveryMs: HOUR, maxRowsPerTable: 5_000, vacuumPagesPerRun: 256 };
    const auditRetentionMs = 20 * DAY;
    let hours = 0;
    const sim = new LockerYearSimulation({
      clock, store: () => store, parcelsPerDay: 20, tokenLifetimeMs: 5 * DAY, uncollectedEvery: 10,
      onHour: () => {
        hours += 1;
        new RetentionSweep(store, retention, silentLogger()).run();
        store.pruneAcknowledgedAudit(auditRetentionMs);
      },
    });

    // One real, signed, long-lived pickup token: spent on day 1, dropped by the backend on
    // day 2, so its entry is pruned long before the token expires.
    const ed = createEd25519('node-crypto');
    const issuer = new TokenIssuer({ ed, kid: 'k1', seed: new Uint8Array(32).fill(9), issuer: 'backend-test' });
    const keyring = Keyring.fromRows(ed, [{ kid: 'k1', publicKey: keyToText(issuer.publicKey), revoked: false }]);
    const longExp = clock.now() + 45 * DAY;
    const longId = 'long_lived_token_0001';
    const longToken = issuer.issue(LOCKER_ID, {
      jti: longId, purpose: 'pickup', iat: new Date(clock.now()).toISOString(), nbf: new Date(clock.now()).toISOString(),
      exp: new Date(longExp).toISOString(), cmp: 'L1', par: 'LONG-1',
    });
    sim.sendWithNextBatch({ upserts: [{ tokenId: longId, token: longToken, parcelId: 'LONG-1', compartmentId: 'L1', size: 'L', kind: 'pickup' }] });
    const replayable = (): boolean => {
      const v = verifyToken({ token: longToken, lockerId: LOCKER_ID, now: clock.now(), purposes: ['pickup'] }, keyring, ed);
      return v.ok && !store.isTokenUsed(longId) && !store.isTokenRevoked(longId);
    };

    // Steady state from about day 30 (token lifetime + retention): compare day 45 with day 90.
    const DAYS = 90;
    const counts: Array<Record<string, number>> = [];
    let longEntryPrunedOnDay: number | undefined;
    for (let day = 1; day <= DAYS; day++) {
      sim.day();
      if (day === 1) {
        store.transaction(() => {
          store.markDeposited(longId, 'L1', clock.now());
          store.markTokenUsed(longId, 'pickup', clock.now());
          store.markCollected(longId, clock.now());
        });
        sim.sendWithNextBatch({ revocations: [{ tokenId: longId, reason: 'collected-elsewhere' }] });
      }
      if (longEntryPrunedOnDay === undefined && store.findEntryByTokenId(longId) === undefined) longEntryPrunedOnDay = day;
      expect(replayable()).toBe(false);
      for (const s of sim.spent) expect(store.isTokenUsed(s.tokenId) || s.exp < clock.now()).toBe(true);
      if (day % 15 === 0) {
        // Restart: the anchor and the chain survive the process.
        store.close();
        store = openTestStore(path, clock);
        fast();
        expect(store.verifyAuditChain()).toMatchObject({ ok: true });
      }
      if (day === DAYS / 2 || day === DAYS) {
        counts.push(Object.fromEntries(['code_entries', 'used_tokens', 'revoked_tokens', 'audit_log', 'open_journal'].map((t) => [t, count(store, t)])));
      }
    }

    expect(hours).toBe(DAYS * 24);
    // The long-lived token's entry went while the token was still valid; its id did not.
    expect(longEntryPrunedOnDay).toBeDefined();
    expect(longEntryPrunedOnDay!).toBeLessThan(45);
    expect(store.isTokenUsed(longId)).toBe(false);
    expect(verifyToken({ token: longToken, lockerId: LOCKER_ID, now: clock.now(), purposes: ['pickup'] }, keyring, ed)).toMatchObject({ ok: false, reason: 'expired' });

    const [mid, end] = counts as [Record<string, number>, Record<string, number>];
    for (const table of Object.keys(end)) expect(end[table]!, table).toBeLessThanOrEqual(Math.ceil(mid[table]! * 1.1) + 5);
    // ~ (token lifetime + retention) days of parcels, not 120 days of them.
    expect(end['code_entries']!).toBeLessThan(20 * 30);
    expect(end['used_tokens']!).toBeLessThan(20 * 12);
    expect(end['audit_log']!).toBeLessThan(20 * 5 * 25);

    const check = store.verifyAuditChain();
    expect(check).toMatchObject({ ok: true });
    if (!check.ok) return;
    expect(check.firstSeq).toBeGreaterThan(1);
    expect(store.database.pragma('auto_vacuum', { simple: true })).toBe(2);
    // Thousands of commits on a disk shared by the whole machine: generous, not a target.
  }, 240_000);
});

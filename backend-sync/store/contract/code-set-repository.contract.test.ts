import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { CodeEntryRecord } from '../records.js';
import { SqlCodeSetRepository } from '../sql/code-set-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';

// The code-set repository's contract, on every engine: a set is created once, version
// bumps serialise on the set's row lock (so two instances never give one version two
// contents), a keypad code is unique among a locker's live entries, and deltas are cut
// correctly between versions.

const dir = mkdtempSync(join(tmpdir(), 'codeset-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('code-set repository contract');
const T = 1_800_000_000_000;
const EMPTY = '0'.repeat(64);

const addLocker = sql(
  `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
   VALUES (?, 'L', 52.5, 13.4, '{}', '{}', 'operating', ?, ?)`,
);

function entry(tokenId: string, over: Partial<CodeEntryRecord> = {}): CodeEntryRecord {
  return {
    lockerId: 'lk',
    tokenId,
    token: `tok-${tokenId}`,
    codeDigest: `digest-${tokenId}`,
    parcelId: `p-${tokenId}`,
    compartmentId: 'M01',
    size: 'M',
    kind: 'pickup',
    kid: 'k1',
    expiresAt: T + 86_400_000,
    addedVersion: 1,
    ...over,
  };
}

describe.each(engines)('CodeSetRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlCodeSetRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlCodeSetRepository(x);
    for (const id of ['lk', 'lk2']) await x.run(addLocker, [id, Buffer.alloc(32, 1), T]);
  });
  afterEach(() => dispose());

  it('lockersMissingKeyring: sent another keyring, not trusting the active key, nothing left to publish', async () => {
    const OLD = 'o'.repeat(64);
    const NEW = 'n'.repeat(64);
    // [locker, keyring sent, version, published, trusted kids]
    const sets: Array<[string, string | undefined, number, number, string[]]> = [
      ['a-stale', OLD, 4, 4, ['k1']],
      ['b-current', NEW, 4, 4, ['k1']],
      ['c-pending', OLD, 5, 4, ['k1']],
      ['d-never-sent', undefined, 0, 0, []],
      ['e-trusts', OLD, 4, 4, ['k1', 'k2']],
      ['f-stale', OLD, 2, 2, []],
      ['g-stale', OLD, 7, 7, ['k0', 'k1']],
    ];
    for (const [id, sent, version, published, kids] of sets) {
      await x.run(addLocker, [id, Buffer.alloc(32, 1), T]);
      await repo.ensure(id);
      await repo.setVersion(id, version, EMPTY);
      await repo.setPublished(id, published);
      if (sent !== undefined) await repo.setKeyringSent(id, sent, published);
      await repo.setTrustedKids(id, kids);
    }
    expect(await repo.lockersMissingKeyring(NEW, 'k2', '', 10)).toEqual(['a-stale', 'f-stale', 'g-stale']);
    expect(await repo.lockersMissingKeyring(NEW, 'k2', '', 2)).toEqual(['a-stale', 'f-stale']);
    expect(await repo.lockersMissingKeyring(NEW, 'k2', 'f-stale', 2)).toEqual(['g-stale']);
    // The key every set trusts: nobody is missing it.
    expect(await repo.lockersMissingKeyring(NEW, 'k1', '', 10)).toEqual(['f-stale']);
  });

  it('ensure creates the set at version 0 once and afterwards returns it as it stands', async () => {
    expect(await repo.get('lk')).toBeUndefined();
    expect(await repo.ensure('lk')).toEqual({ lockerId: 'lk', version: 0, digest: EMPTY, ackedVersion: 0, publishedVersion: 0, trustedKids: [], deltaFloor: 0 });
    await repo.setVersion('lk', 3, 'd'.repeat(64));
    expect(await repo.ensure('lk')).toMatchObject({ version: 3, digest: 'd'.repeat(64) });
    await repo.ensure('lk2');
    expect((await repo.all()).map((s) => s.lockerId)).toEqual(['lk', 'lk2']);
  });

  it('two transactions bumping one locker concurrently get distinct, consecutive versions', async () => {
    // Each holds its transaction open after reading the set, so both are in flight at once:
    // without the row lock both would read the same version and write the same next one.
    const bump = (): Promise<number> =>
      x.transaction(async () => {
        const s = await repo.ensure('lk');
        await sleep(60);
        await repo.setVersion('lk', s.version + 1, `${String(s.version + 1)}`.padStart(64, '0'));
        return s.version + 1;
      });
    // First from no set at all (both create it), then from an existing one.
    expect((await Promise.all([bump(), bump()])).sort()).toEqual([1, 2]);
    expect((await Promise.all([bump(), bump()])).sort()).toEqual([3, 4]);
    expect((await repo.get('lk'))?.version).toBe(4);
  });

  it('publish and ack marks only move forward', async () => {
    await repo.ensure('lk');
    await repo.setPublished('lk', 5);
    await repo.setPublished('lk', 4);
    await repo.setAcked('lk', 5, 'a'.repeat(64), T);
    await repo.setAcked('lk', 3, 'b'.repeat(64), T + 1);
    await repo.setKeyringSent('lk', 'h'.repeat(64), 5);
    expect(await repo.get('lk')).toMatchObject({ publishedVersion: 5, ackedVersion: 5, ackedDigest: 'a'.repeat(64), keyringSentHash: 'h'.repeat(64), keyringSentVersion: 5 });
  });

  it('trusted kids round-trip sorted; a corrupt list is refused naming the locker', async () => {
    await repo.ensure('lk');
    await repo.setTrustedKids('lk', ['k2', 'k1']);
    expect((await repo.get('lk'))?.trustedKids).toEqual(['k1', 'k2']);
    await x.run(sql(`UPDATE code_sets SET trusted_kids_json = '["k1", 7]' WHERE locker_id = 'lk'`));
    await expect(repo.get('lk')).rejects.toMatchObject({ name: 'BackendError', code: 'INTERNAL' });
    await expect(repo.get('lk')).rejects.toThrow(/corrupt row in code_sets \(lockerId=lk\): trusted_kids_json does not match/);
    await x.run(sql(`UPDATE code_sets SET trusted_kids_json = 'not json' WHERE locker_id = 'lk'`));
    await expect(repo.ensure('lk')).rejects.toThrow(/code_sets \(lockerId=lk\): trusted_kids_json is not valid JSON/);
  });

  it('a keypad code is refused while live on that locker and usable again once revoked', async () => {
    expect(await repo.insertEntry(entry('t1', { codeDigest: 'same' }))).toBe(true);
    expect(await repo.insertEntry(entry('t2', { codeDigest: 'same' }))).toBe(false);
    expect(await repo.insertEntry(entry('t3', { codeDigest: 'same', lockerId: 'lk2' }))).toBe(true);
    expect(await repo.liveDigestExists('lk', 'same')).toBe(true);
    expect(await repo.revoke('lk', 't1', 2, 'collected')).toBe(true);
    expect(await repo.revoke('lk', 't1', 3, 'collected')).toBe(false);
    expect(await repo.liveDigestExists('lk', 'same')).toBe(false);
    expect(await repo.insertEntry(entry('t2', { codeDigest: 'same', addedVersion: 3 }))).toBe(true);
    // The same token id twice is refused too, and neither refusal broke a surrounding transaction.
    await x.transaction(async () => {
      expect(await repo.insertEntry(entry('t2', { codeDigest: 'other' }))).toBe(false);
      const { codeDigest: _none, ...qrOnly } = entry('t4');
      expect(await repo.insertEntry(qrOnly)).toBe(true);
    });
    expect(await repo.entry('lk', 't1')).toMatchObject({ revokedVersion: 2, revokeReason: 'collected', codeDigest: 'same' });
    expect(await repo.entry('lk', 't4')).not.toHaveProperty('codeDigest');
  });

  it('changesSince: entries added after the version and still live, entries it had that were revoked since', async () => {
    await repo.insertEntry(entry('a', { addedVersion: 1 }));
    await repo.insertEntry(entry('b', { addedVersion: 2 }));
    await repo.insertEntry(entry('c', { addedVersion: 3 }));
    await repo.insertEntry(entry('d', { addedVersion: 4 }));
    await repo.revoke('lk', 'a', 5, 'cancelled'); // version 2 had it: a revocation
    await repo.revoke('lk', 'd', 6, 'cancelled'); // added after 2 and gone: neither
    const { upserts, revocations } = await repo.changesSince('lk', 2);
    expect(upserts.map((e) => e.tokenId)).toEqual(['c']);
    expect(revocations.map((e) => [e.tokenId, e.revokedVersion])).toEqual([['a', 5]]);
    expect((await repo.liveEntries('lk')).map((e) => e.tokenId)).toEqual(['b', 'c']);
  });

  it('purgeRevoked: deletes a locker\'s revoked entries whose token expired before the cutoff and raises its delta floor to the newest deleted', async () => {
    await repo.ensure('lk');
    await repo.ensure('lk2');
    // [locker, token, expires, revoked at version]
    const rows: Array<[string, string, number, number | undefined]> = [
      ['lk', 'old-r3', T, 3],
      ['lk', 'old-r5', T + 1, 5],
      ['lk', 'old-live', T, undefined],
      ['lk', 'new-r7', T + 100, 7],
      ['lk2', 'old-r2', T, 2],
    ];
    for (const [lockerId, tokenId, expiresAt, revokedAt] of rows) {
      await repo.insertEntry(entry(tokenId, { lockerId, expiresAt, codeDigest: `d-${lockerId}-${tokenId}`, addedVersion: 1 }));
      if (revokedAt !== undefined) await repo.revoke(lockerId, tokenId, revokedAt, 'collected');
    }
    expect(await repo.lockersWithStaleRevoked(T + 50, 10)).toEqual(['lk', 'lk2']);
    expect(await repo.lockersWithStaleRevoked(T + 50, 1)).toEqual(['lk']);
    expect(await x.transaction(() => repo.purgeRevoked('lk', T + 50))).toEqual({ deleted: 2, deltaFloor: 5 });
    expect((await repo.get('lk'))?.deltaFloor).toBe(5);
    expect(await repo.entry('lk', 'old-r3')).toBeUndefined();
    // Live entries and revocations of tokens not yet expired stay.
    expect((await repo.liveEntries('lk')).map((e) => e.tokenId)).toEqual(['old-live']);
    expect(await repo.entry('lk', 'new-r7')).toMatchObject({ revokedVersion: 7 });
    expect((await repo.changesSince('lk', 5)).revocations.map((e) => e.tokenId)).toEqual(['new-r7']);
    // Nothing left to delete: the floor never goes down.
    expect(await x.transaction(() => repo.purgeRevoked('lk', T + 50))).toEqual({ deleted: 0, deltaFloor: 0 });
    expect((await repo.get('lk'))?.deltaFloor).toBe(5);
    expect(await repo.lockersWithStaleRevoked(T + 50, 10)).toEqual(['lk2']);
    expect((await repo.get('lk2'))?.deltaFloor).toBe(0);
  });

  it('sweeper reads: live entries expired by now (soonest first, bounded) and live entries by signing key', async () => {
    await repo.insertEntry(entry('late', { expiresAt: T - 10 }));
    await repo.insertEntry(entry('early', { expiresAt: T - 1000, kid: 'k2' }));
    await repo.insertEntry(entry('gone', { expiresAt: T - 5000, kid: 'k2' }));
    await repo.insertEntry(entry('future', { expiresAt: T + 10, kid: 'k2' }));
    await repo.revoke('lk', 'gone', 2, 'expired');
    expect((await repo.liveExpiredBefore(T, 10)).map((e) => e.tokenId)).toEqual(['early', 'late']);
    expect((await repo.liveExpiredBefore(T, 1)).map((e) => e.tokenId)).toEqual(['early']);
    expect((await repo.liveByKid('k2')).map((e) => e.tokenId)).toEqual(['early', 'future']);
  });
});

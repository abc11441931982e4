import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBackendError } from '../../shared/errors.js';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { AlertRecord } from '../records.js';
import { SqlAlertRepository, SqlSigningKeyRepository } from '../sql/alert-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';

// The alert and signing-key repositories' contract, on every engine: an alert is raised
// once per dedupe key (also when two instances race), listed oldest first with its details
// read back through their schema; a key is recorded once and retired or revoked once.

const dir = mkdtempSync(join(tmpdir(), 'alert-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('alert repository contract');
const T = 1_800_000_000_000;

const alert = (id: string, lockerId: string, at: number, details: Record<string, unknown> = { compartmentId: 'M1' }): AlertRecord => ({ id, lockerId, kind: 'compartment.out-of-service', details, at });

describe.each(engines)('AlertRepository and SigningKeyRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let alerts: SqlAlertRepository;
  let keys: SqlSigningKeyRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    alerts = new SqlAlertRepository(x);
    keys = new SqlSigningKeyRepository(x);
  });
  afterEach(() => dispose());

  it('raises an alert once per dedupe key and reads its details back unchanged', async () => {
    const details = { compartmentId: 'M1', reason: 'jammed', counts: [1, 2], nested: { ok: false, none: null } };
    expect(await alerts.raise(alert('al-1', 'lk-a', T, details), 'lk-a/M1/episode-1')).toBe(true);
    expect(await alerts.raise(alert('al-2', 'lk-a', T + 1), 'lk-a/M1/episode-1')).toBe(false);
    expect(await alerts.list()).toEqual([alert('al-1', 'lk-a', T, details)]);
  });

  it('pages alerts newest first, with ties on time ordered by id, over the fleet or one locker', async () => {
    const raised = [alert('al-1', 'lk-a', T), alert('al-2', 'lk-b', T + 1), alert('al-3', 'lk-a', T + 1), alert('al-4', 'lk-b', T + 2), alert('al-5', 'lk-a', T + 3)];
    for (const a of raised) await alerts.raise(a, a.id);
    const ids = (page: AlertRecord[]): string[] => page.map((a) => a.id);
    const first = await alerts.page({ limit: 2 });
    expect(ids(first)).toEqual(['al-5', 'al-4']);
    const second = await alerts.page({ limit: 2, before: first[1] });
    expect(ids(second)).toEqual(['al-3', 'al-2']);
    expect(ids(await alerts.page({ limit: 2, before: second[1] }))).toEqual(['al-1']);
    expect(ids(await alerts.page({ limit: 10, lockerId: 'lk-a' }))).toEqual(['al-5', 'al-3', 'al-1']);
    expect(ids(await alerts.page({ limit: 10, lockerId: 'lk-a', before: { at: T + 1, id: 'al-3' } }))).toEqual(['al-1']);
    expect(second[0]).toEqual(raised[2]);
  });

  it('two instances raising the same alert at once: exactly one row, one true', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => x.transaction(() => alerts.raise(alert(`al-${String(i)}`, 'lk-a', T + i), 'lk-a/lockout/1'))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await alerts.list('lk-a')).toHaveLength(1);
  });

  it('lists alerts oldest first, ties by id, for all lockers or one', async () => {
    await alerts.raise(alert('al-c', 'lk-b', T + 5), 'k3');
    await alerts.raise(alert('al-b', 'lk-a', T + 1), 'k2');
    await alerts.raise(alert('al-a', 'lk-a', T + 1), 'k1');
    await alerts.raise(alert('al-d', 'lk-a', T), 'k4');
    expect((await alerts.list()).map((a) => a.id)).toEqual(['al-d', 'al-a', 'al-b', 'al-c']);
    expect((await alerts.list('lk-a')).map((a) => a.id)).toEqual(['al-d', 'al-a', 'al-b']);
    expect(await alerts.list('lk-z')).toEqual([]);
  });

  it('refuses an alert row whose details are not a JSON object, naming the row', async () => {
    await alerts.raise(alert('al-1', 'lk-a', T), 'k1');
    await x.run(sql(`UPDATE alerts SET details_json = '[1,2]' WHERE id = 'al-1'`));
    const err = await alerts.list().catch((e: unknown) => e);
    expect(isBackendError(err, 'INTERNAL')).toBe(true);
    expect((err as Error).message).toMatch(/corrupt row in alerts \(id=al-1\): details_json/);
    await x.run(sql(`UPDATE alerts SET details_json = '{"a":' WHERE id = 'al-1'`));
    await expect(alerts.list('lk-a')).rejects.toThrow(/alerts \(id=al-1\): details_json/);
  });

  it('records a signing key once, keeping the first sighting', async () => {
    await keys.upsertSeen('kid-b', 'pub-b', T + 1);
    await keys.upsertSeen('kid-a', 'pub-a', T);
    await keys.upsertSeen('kid-a', 'pub-other', T + 9);
    expect(await keys.all()).toEqual([
      { kid: 'kid-a', publicKey: 'pub-a', firstSeenAt: T },
      { kid: 'kid-b', publicKey: 'pub-b', firstSeenAt: T + 1 },
    ]);
  });

  it('retires and revokes a key once: the first time stands', async () => {
    await keys.upsertSeen('kid-a', 'pub-a', T);
    await keys.retire('kid-a', T + 10);
    await keys.retire('kid-a', T + 20);
    expect(await keys.revoke('kid-a', T + 30)).toBe(true);
    expect(await keys.revoke('kid-a', T + 40)).toBe(false);
    expect(await keys.revoke('kid-z', T + 40)).toBe(false);
    expect(await keys.all()).toEqual([{ kid: 'kid-a', publicKey: 'pub-a', firstSeenAt: T, retiredAt: T + 10, revokedAt: T + 30 }]);
  });
});

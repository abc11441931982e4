import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reloadSigningKeys } from '../codes/key-reload.js';
import { EMPTY_CODE_SET_DIGEST, encodeMessage, newEnvelope, topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, writeKey, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';

// The kids a locker announces in its presence steer which key the backend seals with; they
// may narrow what the backend recorded, never add a kid the locker did not name, and a
// locker naming no key the backend can sign with is an operator's alert, not a retry loop.

const OLD = 'k-20261101-old';
const NEW = 'k-20261201-new';
const engines = await testEngines('announced trust');

const presence = (dbEpoch: string, trustedKids?: string[]): Buffer =>
  encodeMessage('presence', {
    ...newEnvelope('presence', Date.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch,
    codeSet: { version: 0, digest: EMPTY_CODE_SET_DIGEST }, audit: { highSeq: 0, ackedSeq: 0 },
    ...(trustedKids === undefined ? {} : { trustedKids }),
  });

/** The kid in a seal's footer (v4.public.<payload>.<footer>). */
const sealKid = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[3] ?? '', 'base64url').toString('utf8')) as { kid: string }).kid;

describe.each(engines)('presence trustedKids (%s)', (engine) => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  const trusted = async (): Promise<string[]> => (await f.store.codeSets.get('lk-a'))?.trustedKids ?? [];
  const epoch = (n: number): string => String(n).repeat(32);

  beforeEach(async () => {
    f = await makeBackend({ engine, kid: OLD });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
    writeKey(f.ed, join(f.dir, 'keys'), NEW);
    await reloadSigningKeys({ store: f.store, keys: f.services.keys, codeSets: f.services.codeSets, logger: f.services.logger });
    await f.services.bridge.idle();
    // As after the ack of the batch that carried the new keyring.
    await f.store.codeSets.setTrustedKids('lk-a', [NEW, OLD]);
    pub.batches.length = 0;
  });
  afterEach(async () => {
    await f.services.bridge.idle();
    await f.close();
  });

  it('seals the re-sent batch with the key a replaced database announces, never adding a kid it did not name', async () => {
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), presence(epoch(1), [OLD, 'k-never-heard-of']));
    await f.services.bridge.idle();
    expect(await trusted()).toEqual([OLD]);
    const batch = pub.batches.at(-1);
    expect(batch && sealKid(batch.manifest)).toBe(OLD);
    expect(batch?.batch.keyring.map((k) => k.kid)).toEqual(expect.arrayContaining([OLD, NEW]));
  });

  it('keeps the recorded kids for a locker that does not announce any', async () => {
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), presence(epoch(1)));
    await f.services.bridge.idle();
    expect(await trusted()).toEqual([OLD, NEW]);
    const batch = pub.batches.at(-1);
    expect(batch && sealKid(batch.manifest)).toBe(NEW);
    expect((await f.store.alerts.list('lk-a')).filter((a) => a.kind === 'sync.keyring-untrusted')).toEqual([]);
  });

  it('raises one alert per database and keeps the recorded kids when the locker trusts no key the backend can sign with', async () => {
    await f.services.keys.revoke(OLD);
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), presence(epoch(2), [OLD, 'k-never-heard-of']));
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), presence(epoch(2), [OLD]));
    await f.services.bridge.idle();
    expect(await trusted()).toEqual([OLD, NEW]);
    const alerts = (await f.store.alerts.list('lk-a')).filter((a) => a.kind === 'sync.keyring-untrusted');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.details).toMatchObject({ announced: [OLD, 'k-never-heard-of'], usable: [] });
  });
});

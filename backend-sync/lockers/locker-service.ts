import { randomBytes } from 'node:crypto';
import type { KeyringChange } from '../shared/contract.js';
import type { Clock } from '../shared/clock.js';
import { BackendError, notFound } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { KeyStore } from '../keys/key-store.js';
import type { Store } from '../store/store.js';
import type { Locker, LockerDetail, LockerHealthView, LockerInput, LockerListQuery, LockerStatus, SearchHit, SearchQuery } from './locker-schemas.js';

// The locker registry and nearby search. Registration creates the locker's code pepper
// (the secret keying its keypad-code digests) and returns it once, with the keyring to
// install, as the locker's provisioning bundle.

export interface Provisioning {
  lockerId: string;
  /** base64url, 32 bytes: goes into the locker's device config, never into its database. */
  codePepper: string;
  keyring: KeyringChange[];
}

export class LockerService {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly keys: KeyStore,
    private readonly clock: Clock,
    private readonly offlineGraceMs: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'lockers' });
  }

  async register(input: LockerInput): Promise<{ locker: LockerDetail; provisioning: Provisioning }> {
    const pepper = randomBytes(32);
    const now = this.clock.now();
    const { keyring, detail } = await this.store.transaction(async () => {
      if (!(await this.store.lockers.insert(input, pepper, now))) throw new BackendError('CONFLICT', 'a locker with this id already exists', { lockerId: input.id });
      await this.store.codeSets.ensure(input.id);
      // The provisioning bundle installs this keyring, so the locker trusts these kids from
      // the start; read in the same transaction as the trusted kids recorded for it.
      const changes = await this.keys.keyringChanges();
      await this.store.codeSets.setTrustedKids(input.id, await this.keys.trustedKids(now));
      return { keyring: changes, detail: await this.store.lockers.detail(input.id, now) };
    });
    if (detail === undefined) throw new BackendError('INTERNAL', 'locker vanished after insert');
    this.log.info({ lockerId: input.id, compartments: input.compartments.length }, 'locker.registered');
    return { locker: detail, provisioning: { lockerId: input.id, codePepper: pepper.toString('base64url'), keyring } };
  }

  /** Registry detail with per-compartment state, plus the latest health report if one arrived. */
  async get(id: string): Promise<LockerDetail> {
    const d = await this.store.lockers.detail(id, this.clock.now());
    if (d === undefined) throw notFound('locker', id);
    const h = await this.store.lockerHealth.get(id);
    if (h === undefined) return d;
    const health: LockerHealthView = { bootId: h.bootId, sentAt: h.sentAt, receivedAt: h.receivedAt, report: h.health, outOfServiceSince: h.episodes.outOfService };
    if (h.episodes.lockoutSince !== undefined) health.lockoutSince = h.episodes.lockoutSince;
    if (h.episodes.storageUnwritableSince !== undefined) health.storageUnwritableSince = h.episodes.storageUnwritableSince;
    if (h.episodes.storageReserveReleasedSince !== undefined) health.storageReserveReleasedSince = h.episodes.storageReserveReleasedSince;
    return { ...d, health };
  }

  /** The registry a page at a time, in id order; `next` is the cursor of the following page. */
  async list(q: LockerListQuery): Promise<{ lockers: Locker[]; next?: string }> {
    const page = await this.store.lockers.list({ ...(q.after === undefined ? {} : { afterId: q.after }), ...(q.status === undefined ? {} : { status: q.status }), limit: q.limit + 1 });
    const lockers = page.slice(0, q.limit);
    const last = lockers.at(-1);
    return page.length > q.limit && last !== undefined ? { lockers, next: last.id } : { lockers };
  }

  search(q: SearchQuery): Promise<SearchHit[]> {
    const now = this.clock.now();
    return this.store.lockers.search({ lat: q.lat, lng: q.lng, radiusM: q.radiusM, size: q.size, limit: q.limit, now, offlineCutoff: now - this.offlineGraceMs });
  }

  async setStatus(id: string, status: LockerStatus): Promise<LockerDetail> {
    if (!(await this.store.lockers.setStatus(id, status))) throw notFound('locker', id);
    this.log.info({ lockerId: id, status }, 'locker.status');
    return this.get(id);
  }
}

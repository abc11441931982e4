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

  register(input: LockerInput): { locker: LockerDetail; provisioning: Provisioning } {
    const pepper = randomBytes(32);
    const now = this.clock.now();
    const keyring = this.keys.keyringChanges();
    const detail = this.store.transaction(() => {
      if (!this.store.lockers.insert(input, pepper, now)) throw new BackendError('CONFLICT', 'a locker with this id already exists', { lockerId: input.id });
      this.store.codeSets.ensure(input.id);
      // The provisioning bundle installs this keyring, so the locker trusts these kids from the start.
      this.store.codeSets.setTrustedKids(input.id, this.keys.trustedKids(now));
      return this.store.lockers.detail(input.id, now);
    });
    if (detail === undefined) throw new BackendError('INTERNAL', 'locker vanished after insert');
    this.log.info({ lockerId: input.id, compartments: input.compartments.length }, 'locker.registered');
    return { locker: detail, provisioning: { lockerId: input.id, codePepper: pepper.toString('base64url'), keyring } };
  }

  /** Registry detail with per-compartment state, plus the latest health report if one arrived. */
  get(id: string): LockerDetail {
    const d = this.store.lockers.detail(id, this.clock.now());
    if (d === undefined) throw notFound('locker', id);
    const h = this.store.lockerHealth.get(id);
    if (h === undefined) return d;
    const health: LockerHealthView = { bootId: h.bootId, sentAt: h.sentAt, receivedAt: h.receivedAt, report: h.health, outOfServiceSince: h.episodes.outOfService };
    if (h.episodes.lockoutSince !== undefined) health.lockoutSince = h.episodes.lockoutSince;
    return { ...d, health };
  }

  /** The registry a page at a time, in id order; `next` is the cursor of the following page. */
  list(q: LockerListQuery): { lockers: Locker[]; next?: string } {
    const page = this.store.lockers.list({ ...(q.after === undefined ? {} : { afterId: q.after }), ...(q.status === undefined ? {} : { status: q.status }), limit: q.limit + 1 });
    const lockers = page.slice(0, q.limit);
    const last = lockers.at(-1);
    return page.length > q.limit && last !== undefined ? { lockers, next: last.id } : { lockers };
  }

  search(q: SearchQuery): SearchHit[] {
    const now = this.clock.now();
    return this.store.lockers.search({ lat: q.lat, lng: q.lng, radiusM: q.radiusM, size: q.size, limit: q.limit, now, offlineCutoff: now - this.offlineGraceMs });
  }

  setStatus(id: string, status: LockerStatus): LockerDetail {
    if (!this.store.lockers.setStatus(id, status)) throw notFound('locker', id);
    this.log.info({ lockerId: id, status }, 'locker.status');
    return this.get(id);
  }
}

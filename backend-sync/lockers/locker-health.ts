import type { HealthMessage } from '../shared/contract.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { HealthEpisodes } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { Alerts } from './alerts.js';

// Health reports from lockers (lockers/{id}/health, already validated by the contract
// schema): the latest per locker is kept and shown in the locker detail. A compartment
// reported out of service, an active keypad lockout, a database the locker cannot write
// (disk full: it opens no door), or a storage reserve the locker gave up (its card is
// nearly full: it still works, but not for long) raises one alert per episode: the
// episode opens at the first report showing it and closes at the first report without it,
// and what is open is stored with the report, so a restart or a repeated report raises
// nothing new. These alerts are distinct kinds from those raised by audit records (which
// say what happened); these say what a locker currently reports.

export type HealthOutcome = 'stored' | 'stale';

/**
 * How late a report of one boot may be handled after a newer one and still count as
 * reordered: only two instances taking two reports at once (shared subscription) reorder
 * them, and then within moments. Reports are a healthIntervalMs (1 min) apart.
 */
export const HEALTH_REORDER_WINDOW_MS = 10_000;

export class LockerHealth {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly alerts: Alerts,
    private readonly clock: Clock,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'locker-health' });
  }

  onHealth(lockerId: string, m: HealthMessage): Promise<HealthOutcome> {
    const { store, alerts } = this;
    const receivedAt = this.clock.now();
    return store.transaction(async (): Promise<HealthOutcome> => {
      // Two instances may take two reports of one locker at once (shared subscription):
      // the row lock makes the second see the first's episodes, so an episode alerts once.
      await store.lockers.lockRow(lockerId);
      const prev = await store.lockerHealth.get(lockerId);
      // QoS 0 and retries can reorder or repeat: within one boot keep the latest by sentAt.
      // But sentAt is the locker's wall clock, which steps back when a backend-signed time
      // corrects a clock that ran ahead: a report with an earlier sentAt that arrives well
      // after the stored one is newer, not reordered (else none would be kept for as long
      // as the clock had been ahead).
      if (prev !== undefined && prev.bootId === m.bootId && m.sentAt <= prev.sentAt && receivedAt - prev.receivedAt < HEALTH_REORDER_WINDOW_MS) return 'stale';
      const was = prev?.episodes ?? { outOfService: {} };
      const episodes: HealthEpisodes = { outOfService: {} };
      for (const c of m.health.compartments) {
        if (c.status !== 'out-of-service') continue;
        const since = was.outOfService[c.id];
        episodes.outOfService[c.id] = since ?? receivedAt;
        if (since === undefined) await alerts.raise(lockerId, 'health.compartment-out-of-service', `${c.id}:${String(receivedAt)}`, { compartmentId: c.id, door: c.door, bootId: m.bootId });
      }
      if (m.health.lockout.active) {
        episodes.lockoutSince = was.lockoutSince ?? receivedAt;
        if (was.lockoutSince === undefined) {
          await alerts.raise(lockerId, 'health.keypad-lockout', String(receivedAt), { failures: m.health.lockout.failures, until: m.health.lockout.until ?? null, bootId: m.bootId });
        }
      }
      // A locker whose database refuses writes (disk full) opens no door: every customer there
      // is turned away until someone frees space (docs/operations.md).
      if (m.health.storage?.writable === false) {
        episodes.storageUnwritableSince = was.storageUnwritableSince ?? receivedAt;
        if (was.storageUnwritableSince === undefined) {
          await alerts.raise(lockerId, 'health.storage-unwritable', String(receivedAt), { writeFailures: m.health.storage.writeFailures, bootId: m.bootId });
        }
      }
      // The locker deleted its reserve file to keep writing: it still serves, but the next
      // fill-up stops it. The warning a technician needs while there is still time.
      if (m.health.storage?.reserveReleased === true) {
        episodes.storageReserveReleasedSince = was.storageReserveReleasedSince ?? receivedAt;
        if (was.storageReserveReleasedSince === undefined) {
          await alerts.raise(lockerId, 'health.storage-reserve-released', String(receivedAt), { writable: m.health.storage.writable, writeFailures: m.health.storage.writeFailures, bootId: m.bootId });
        }
      }
      await store.lockerHealth.put({ lockerId, bootId: m.bootId, sentAt: m.sentAt, receivedAt, health: m.health, episodes });
      const outOfService = Object.keys(episodes.outOfService);
      this.log.debug({ lockerId, outOfService: outOfService.length, lockout: m.health.lockout.active, auditBacklog: m.health.auditBacklog }, 'locker.health');
      return 'stored';
    });
  }
}
